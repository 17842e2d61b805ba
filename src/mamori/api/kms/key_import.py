"""Key material import for keys created with Origin=EXTERNAL: GetParametersForImport,
ImportKeyMaterial and DeleteKeyMaterial."""

from __future__ import annotations

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.kms.keys import KEY_ID, key_resource
from mamori.api.params import Int, Str
from mamori.core.key_import import MAX_ENCRYPTED_CHARS
from mamori.core.model import iso


def get_parameters_for_import(call: Call, args: Args) -> Result:
    """GetParametersForImport: a fresh wrapping public key and its ImportToken (24 hours)."""
    params = call.services.key_import.parameters(
        call.scope, args["KeyId"], args["WrappingKeySpec"], args["WrappingAlgorithm"]
    )
    return {
        "KeyId": params.key_id,
        "ImportToken": params.token,
        "PublicKey": params.public_key,
        "TokenExpireTime": iso(params.expires_at),
    }


def import_key_material(call: Call, args: Args) -> Result:
    """ImportKeyMaterial; KeyMaterialExpireUnix 0 means the material never expires."""
    call.services.key_import.import_material(
        call.scope,
        args["KeyId"],
        args["EncryptedKeyMaterial"],
        args["ImportToken"],
        args["KeyMaterialExpireUnix"],
    )
    return {}


def delete_key_material(call: Call, args: Args) -> Result:
    """DeleteKeyMaterial."""
    call.services.key_import.delete_material(call.scope, args["KeyId"])
    return {}


ACTIONS = (
    Action(
        "GetParametersForImport",
        (
            KEY_ID,
            Str("WrappingKeySpec", required=True, max_len=32),
            Str("WrappingAlgorithm", required=True, max_len=32),
        ),
        get_parameters_for_import,
        key_resource,
    ),
    Action(
        "ImportKeyMaterial",
        (
            KEY_ID,
            Str("EncryptedKeyMaterial", required=True, max_len=MAX_ENCRYPTED_CHARS),
            Str("ImportToken", required=True, max_len=256),
            Int("KeyMaterialExpireUnix", required=True, low=0, high=2**40),
        ),
        import_key_material,
        key_resource,
    ),
    Action("DeleteKeyMaterial", (KEY_ID,), delete_key_material, key_resource),
)
