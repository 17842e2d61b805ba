"""GenerateAndExportDataKey and ExportDataKey: a data key sealed under a symmetric key, and
also encrypted under a public key the caller brings (RSA_2048 with OAEP, or EC_SM2 with
SM2PKE), so another party holding the private key can unwrap it without calling KMS."""

from __future__ import annotations

import base64

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.errors import ApiError
from mamori.api.kms.crypto import (
    BLOB,
    CONTEXT,
    DATA_KEY_PARAMS,
    DRY_RUN,
    blob_resource,
    data_key_size,
)
from mamori.api.kms.keys import key_resource
from mamori.api.params import B64, Str
from mamori.core.asymmetric_ops import export, wrapping_key
from mamori.crypto.asymmetric import PublicKey


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _wrapping(args: Args) -> tuple[PublicKey, str]:
    return wrapping_key(args["WrappingKeySpec"], args["WrappingAlgorithm"], args["PublicKeyBlob"])


def generate_and_export_data_key(call: Call, args: Args) -> Result:
    """GenerateAndExportDataKey."""
    size = data_key_size(args)
    public, algorithm = _wrapping(args)
    crypto = call.services.crypto
    if call.dry_run:
        crypto.encrypt_key(call.scope, args["KeyId"])
        raise ApiError("DryRunOperationError")
    sealed, data_key = crypto.generate_data_key(
        call.scope, args["KeyId"], size, args["EncryptionContext"]
    )
    return {
        "KeyId": sealed.key_id,
        "KeyVersionId": sealed.version_id,
        "CiphertextBlob": sealed.blob,
        "ExportedDataKey": _b64(export(public, algorithm, data_key)),
    }


def export_data_key(call: Call, args: Args) -> Result:
    """ExportDataKey: the data key inside a blob, re-encrypted under the caller's public key."""
    public, algorithm = _wrapping(args)
    crypto = call.services.crypto
    if call.dry_run:
        crypto.decrypt_key(call.scope, args["CiphertextBlob"])
        raise ApiError("DryRunOperationError")
    opened = crypto.decrypt(call.scope, args["CiphertextBlob"], args["EncryptionContext"])
    return {
        "KeyId": opened.key_id,
        "KeyVersionId": opened.version_id,
        "ExportedDataKey": _b64(export(public, algorithm, opened.plaintext)),
    }


_WRAPPING = (
    B64("PublicKeyBlob", required=True, max_len=8192, max_bytes=4096),
    Str("WrappingAlgorithm", required=True, max_len=64),
    Str("WrappingKeySpec", required=True, max_len=64),
)

ACTIONS = (
    Action(
        "GenerateAndExportDataKey",
        (*DATA_KEY_PARAMS, *_WRAPPING),
        generate_and_export_data_key,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "ExportDataKey",
        (BLOB, CONTEXT, DRY_RUN, *_WRAPPING),
        export_data_key,
        blob_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
)
