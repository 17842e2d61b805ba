"""Key policies (KMS API 2016-01-20): SetKeyPolicy and GetKeyPolicy.

A key policy is a resource policy: its statements name RAM principals. The authorizer combines
it with the caller's RAM policies (``mamori.iam.authorize``), so setting one takes effect on the
very next request.
"""

from __future__ import annotations

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.kms.keys import KEY_ID, key_resource
from mamori.api.params import Str
from mamori.api.ram.policy_common import ram
from mamori.iam.key_policies import DEFAULT_NAME, MAX_LENGTH, default_document

# Alibaba documents one valid name, "default"; another would be a policy nothing evaluates.
POLICY_NAME = Str("PolicyName", max_len=64, choices=(DEFAULT_NAME,))


def set_key_policy(call: Call, args: Args) -> Result:
    """SetKeyPolicy: validated as a resource policy, then replaces the key's policy."""
    key = call.services.keys.resolve(call.scope, args["KeyId"])
    ram(call).key_policies.set(key.id, args["Policy"], args["PolicyName"] or DEFAULT_NAME)
    return {}


def get_key_policy(call: Call, args: Args) -> Result:
    """GetKeyPolicy: the policy set, or the default one (the administrator only)."""
    key = call.services.keys.resolve(call.scope, args["KeyId"])
    text = ram(call).key_policies.document(key.id, args["PolicyName"] or DEFAULT_NAME)
    return {"Policy": text if text is not None else default_document(key.account_id)}


ACTIONS = (
    Action(
        "SetKeyPolicy",
        (KEY_ID, Str("Policy", required=True, max_len=MAX_LENGTH), POLICY_NAME),
        set_key_policy,
        key_resource,
    ),
    Action("GetKeyPolicy", (KEY_ID, POLICY_NAME), get_key_policy, key_resource, read_only=True),
)
