"""Secret policies: SetSecretPolicy and GetSecretPolicy.

A secret policy is a resource policy, evaluated like a key policy: within the secret's account
the identity policies or the secret policy may grant, and an explicit Deny in either wins.
"""

from __future__ import annotations

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.params import Str
from mamori.api.secrets.values import SECRET_NAME, secret_resource
from mamori.iam.key_policies import DEFAULT_NAME, MAX_LENGTH, default_document

# As for key policies, "default" is the one documented name.
POLICY_NAME = Str("PolicyName", max_len=64, choices=(DEFAULT_NAME,))


def set_secret_policy(call: Call, args: Args) -> Result:
    """SetSecretPolicy: validated as a resource policy, then replaces the secret's policy."""
    call.services.secret_policies.set(
        call.scope.account_id,
        args["SecretName"],
        args["Policy"],
        args["PolicyName"] or DEFAULT_NAME,
    )
    return {}


def get_secret_policy(call: Call, args: Args) -> Result:
    """GetSecretPolicy: the policy set, or the default one (the administrator only)."""
    secret = call.services.secrets.get(call.scope, args["SecretName"])
    text = call.services.secret_policies.document(
        call.scope.account_id, secret.name, args["PolicyName"] or DEFAULT_NAME
    )
    return {"Policy": text if text is not None else default_document(secret.account_id)}


ACTIONS = (
    Action(
        "SetSecretPolicy",
        (SECRET_NAME, Str("Policy", required=True, max_len=MAX_LENGTH), POLICY_NAME),
        set_secret_policy,
        secret_resource,
    ),
    Action(
        "GetSecretPolicy",
        (SECRET_NAME, POLICY_NAME),
        get_secret_policy,
        secret_resource,
        read_only=True,
    ),
)
