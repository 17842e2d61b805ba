"""CreateClientKey, GetClientKey, ListClientKeys, DeleteClientKey.

CreateClientKey answers the private key once (``PrivateKeyData``: the PKCS#12 under the
caller's password); nothing keeps it. The password is checked against Alibaba's rules
(``mamori.iam.client_keys``) and never echoed, in an answer or an error.
"""

from __future__ import annotations

import json

from mamori.api.aap.common import aap_arn, client_key_arn
from mamori.api.catalogue import Action, Args, Call, Result, Services, account_resource
from mamori.api.errors import missing
from mamori.api.params import Str
from mamori.core.model import iso
from mamori.core.refs import Scope
from mamori.iam.client_keys import KEY_ORIGIN, ClientKey, MissingCounterpart

AAP_NAME = Str("AapName", max_len=64)
CLIENT_KEY_ID = Str("ClientKeyId", required=True, max_len=64)


def _shown(key: ClientKey) -> Result:
    return {
        "ClientKeyId": key.key_id,
        "AapName": key.aap_name,
        "KeyAlgorithm": key.algorithm,
        "KeyOrigin": KEY_ORIGIN,
        "NotBefore": iso(key.not_before),
        "NotAfter": iso(key.not_after),
        "CreateTime": iso(key.created_at),
        "PublicKeyData": key.public_key_pem,
    }


def create_client_key(call: Call, args: Args) -> Result:
    """CreateClientKey: the ClientKeyContent's PrivateKeyData, this once."""
    try:
        key, issued = call.services.aap.client_keys.create(
            call.scope.account_id,
            args["AapName"],
            args["Password"],
            args["NotBefore"],
            args["NotAfter"],
        )
    except MissingCounterpart as exc:
        raise missing(exc.name) from None
    return {
        "ClientKeyId": key.key_id,
        "KeyAlgorithm": key.algorithm,
        "NotBefore": iso(key.not_before),
        "NotAfter": iso(key.not_after),
        "PrivateKeyData": json.loads(issued.content)["PrivateKeyData"],
    }


def get_client_key(call: Call, args: Args) -> Result:
    """GetClientKey: the public half (the certificate) and the validity."""
    return _shown(call.services.aap.client_keys.get(call.scope.account_id, args["ClientKeyId"]))


def list_client_keys(call: Call, args: Args) -> Result:
    """ListClientKeys: a bare array (not Alibaba's usual double wrapper)."""
    keys = call.services.aap.client_keys.listing(call.scope.account_id, args["AapName"])
    return {"ClientKeys": [_shown(k) for k in keys]}


def delete_client_key(call: Call, args: Args) -> Result:
    """DeleteClientKey: it signs nothing from the next request on."""
    call.services.aap.client_keys.delete(call.scope.account_id, args["ClientKeyId"])
    return {}


def _aap_of_request(_services: Services, scope: Scope, args: Args) -> str:
    return aap_arn(scope, args["AapName"])


def _aap_or_account(services: Services, scope: Scope, args: Args) -> str:
    if args["AapName"]:
        return aap_arn(scope, args["AapName"])
    return account_resource(services, scope, args)


def _client_key(_services: Services, scope: Scope, args: Args) -> str:
    return client_key_arn(scope, args["ClientKeyId"])


ACTIONS = (
    Action(
        "CreateClientKey",
        (
            Str("AapName", required=True, max_len=64),
            Str("Password", required=True, max_len=64),
            Str("NotBefore", max_len=32),
            Str("NotAfter", max_len=32),
        ),
        create_client_key,
        _aap_of_request,
    ),
    Action("GetClientKey", (CLIENT_KEY_ID,), get_client_key, _client_key, read_only=True),
    Action("ListClientKeys", (AAP_NAME,), list_client_keys, _aap_or_account, read_only=True),
    Action("DeleteClientKey", (CLIENT_KEY_ID,), delete_client_key, _client_key),
)
