"""Symmetric cryptographic actions: Encrypt, Decrypt, data keys, ReEncrypt.

Each one resolves and checks its key first; a DryRun stops right there with
``DryRunOperationError``, so a dry run never touches key material.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

from mamori.api.catalogue import Action, Args, Call, Result, Services, Touch, account_resource
from mamori.api.errors import ApiError, invalid, missing
from mamori.api.kms.keys import KEY_ID, key_resource
from mamori.api.params import B64, Bool, Int, JsonMap, Str
from mamori.core.crypto_ops import MAX_PLAINTEXT
from mamori.core.instance_crypto import MAX_AAD
from mamori.core.refs import Scope
from mamori.crypto import blob
from mamori.crypto.specs import DATA_KEY_BYTES

DRY_RUN = Bool("DryRun")
CONTEXT = JsonMap("EncryptionContext")
BLOB = Str("CiphertextBlob", required=True, max_len=16 * 1024)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _dry_run_ok() -> ApiError:
    return ApiError("DryRunOperationError")


def encrypt(call: Call, args: Args) -> Result:
    """Encrypt."""
    crypto = call.services.crypto
    if call.dry_run:
        crypto.encrypt_key(call.scope, args["KeyId"])
        raise _dry_run_ok()
    sealed = crypto.encrypt(call.scope, args["KeyId"], args["Plaintext"], args["EncryptionContext"])
    return {
        "KeyId": sealed.key_id,
        "KeyVersionId": sealed.version_id,
        "CiphertextBlob": sealed.blob,
    }


def decrypt(call: Call, args: Args) -> Result:
    """Decrypt."""
    crypto = call.services.crypto
    if call.dry_run:
        crypto.decrypt_key(call.scope, args["CiphertextBlob"])
        raise _dry_run_ok()
    opened = crypto.decrypt(call.scope, args["CiphertextBlob"], args["EncryptionContext"])
    return {
        "KeyId": opened.key_id,
        "KeyVersionId": opened.version_id,
        "Plaintext": _b64(opened.plaintext),
    }


def data_key_size(args: Args) -> int:
    if args["NumberOfBytes"] is not None:
        return int(args["NumberOfBytes"])
    spec = args["KeySpec"] or "AES_256"
    if spec not in DATA_KEY_BYTES:
        raise invalid("KeySpec", "It must be AES_256 or AES_128.")
    return DATA_KEY_BYTES[spec]


def _generate(call: Call, args: Args, with_plaintext: bool) -> Result:
    size = data_key_size(args)
    crypto = call.services.crypto
    if call.dry_run:
        crypto.encrypt_key(call.scope, args["KeyId"])
        raise _dry_run_ok()
    sealed, data_key = crypto.generate_data_key(
        call.scope, args["KeyId"], size, args["EncryptionContext"]
    )
    result: Result = {
        "KeyId": sealed.key_id,
        "KeyVersionId": sealed.version_id,
        "CiphertextBlob": sealed.blob,
    }
    if with_plaintext:
        result["Plaintext"] = _b64(data_key)
    return result


def generate_data_key(call: Call, args: Args) -> Result:
    """GenerateDataKey."""
    return _generate(call, args, with_plaintext=True)


def generate_data_key_without_plaintext(call: Call, args: Args) -> Result:
    """GenerateDataKeyWithoutPlaintext."""
    return _generate(call, args, with_plaintext=False)


_ASYMMETRIC_SOURCE = ("SourceKeyId", "SourceKeyVersionId", "SourceEncryptionAlgorithm")


def _re_encrypt_asymmetric(call: Call, args: Args) -> Result:
    """ReEncrypt of data encrypted under an asymmetric key's public key: the three Source*
    parameters name the private key and algorithm; the blob is the raw ciphertext."""
    for name in _ASYMMETRIC_SOURCE:
        if not args[name]:
            raise missing(name)
    try:
        ciphertext = base64.b64decode(args["CiphertextBlob"], validate=True)
    except ValueError:
        raise invalid("CiphertextBlob", "It is not valid base64.") from None
    crypto, asym = call.services.crypto, call.services.asymmetric
    source = (args["SourceKeyId"], args["SourceKeyVersionId"], args["SourceEncryptionAlgorithm"])
    crypto.encrypt_key(call.scope, args["DestinationKeyId"])
    if call.dry_run:
        asym.check_encrypt(call.scope, *source)
        raise _dry_run_ok()
    opened = asym.decrypt(call.scope, *source, ciphertext)
    sealed = crypto.encrypt(
        call.scope, args["DestinationKeyId"], opened.value, args["DestinationEncryptionContext"]
    )
    return {
        "KeyId": sealed.key_id,
        "KeyVersionId": sealed.version_id,
        "CiphertextBlob": sealed.blob,
    }


def re_encrypt(call: Call, args: Args) -> Result:
    """ReEncrypt from a symmetric blob, or from an asymmetric ciphertext when any Source*
    parameter is given."""
    if any(args[name] for name in _ASYMMETRIC_SOURCE):
        return _re_encrypt_asymmetric(call, args)
    crypto = call.services.crypto
    crypto.decrypt_key(call.scope, args["CiphertextBlob"])
    if call.dry_run:
        crypto.encrypt_key(call.scope, args["DestinationKeyId"])
        raise _dry_run_ok()
    sealed = crypto.re_encrypt(
        call.scope,
        args["CiphertextBlob"],
        args["SourceEncryptionContext"],
        args["DestinationKeyId"],
        args["DestinationEncryptionContext"],
    )
    return {
        "KeyId": sealed.key_id,
        "KeyVersionId": sealed.version_id,
        "CiphertextBlob": sealed.blob,
    }


def _re_encrypt_resources(services: Services, scope: Scope, args: Args) -> Iterator[Touch]:
    """ReEncrypt decrypts under the source key (the blob's, or SourceKeyId) and encrypts under
    the destination key: kms:ReEncrypt on each, with that side's EncryptionContext, all
    before the handler looks at either key (a refused caller learns nothing of their state)."""
    source: str | None = args["SourceKeyId"]
    if any(args[name] for name in _ASYMMETRIC_SOURCE):
        arn = key_resource(services, scope, {"KeyId": source})
        named = f"SourceKeyId {source or ''}"
    else:
        arn, named = blob_resource(services, scope, args), "the key of CiphertextBlob"
    yield Touch(arn, named, context=args["SourceEncryptionContext"])
    destination: str = args["DestinationKeyId"]
    yield Touch(
        key_resource(services, scope, {"KeyId": destination}),
        f"DestinationKeyId {destination}",
        context=args["DestinationEncryptionContext"],
    )


def blob_resource(services: Services, scope: Scope, args: Args) -> str:
    """The ARN of the key that sealed the blob; a blob naming no key authorizes against the
    account, and the handler then answers with the documented error."""
    try:
        version = services.keys.version(blob.decode(args["CiphertextBlob"]).version_id)
    except blob.MalformedBlob:
        version = None
    return scope.key_arn(version.key_id) if version else account_resource(services, scope, args)


def advance_encrypt(call: Call, args: Args) -> Result:
    """AdvanceEncrypt (old SDK only): the instance API's AdvanceEncrypt on the shared gateway.
    The blob is the Advance form (``$`` 0x00 0x02 ‖ the Encrypt blob's bytes), sealed under the
    primary version; ``Decrypt`` opens it with the EncryptionContext whose AAD ``Aad`` is."""
    ops = call.services.instance_crypto
    target = ops.key_target(call.scope, args["KeyId"])
    sealed = ops.encrypt(
        target,
        args["Plaintext"],
        args["Algorithm"] or "",
        args["Aad"] or b"",
        args["Iv"] or b"",
        args["PaddingMode"] or "",
        advance=True,
    )
    return {
        "KeyId": sealed.key_id,
        "KeyVersionId": sealed.version_id,
        "CiphertextBlob": _b64(sealed.ciphertext),
        "Algorithm": sealed.algorithm,
    }


DATA_KEY_PARAMS = (
    KEY_ID,
    Str("KeySpec", max_len=16),
    Int("NumberOfBytes", low=1, high=1024),
    CONTEXT,
    DRY_RUN,
)

ACTIONS = (
    Action(
        "Encrypt",
        (
            KEY_ID,
            B64("Plaintext", required=True, max_len=8192, max_bytes=MAX_PLAINTEXT),
            CONTEXT,
            DRY_RUN,
        ),
        encrypt,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "Decrypt",
        (BLOB, CONTEXT, DRY_RUN),
        decrypt,
        blob_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "GenerateDataKey",
        DATA_KEY_PARAMS,
        generate_data_key,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "GenerateDataKeyWithoutPlaintext",
        DATA_KEY_PARAMS,
        generate_data_key_without_plaintext,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "ReEncrypt",
        (
            BLOB,
            Str("DestinationKeyId", required=True, max_len=2048),
            JsonMap("SourceEncryptionContext"),
            JsonMap("DestinationEncryptionContext"),
            Str("SourceKeyId", max_len=2048),
            Str("SourceKeyVersionId", max_len=64),
            Str("SourceEncryptionAlgorithm", max_len=64),
            DRY_RUN,
        ),
        re_encrypt,
        business=True,
        inline=True,
        resources=_re_encrypt_resources,
        read_only=True,
    ),
    Action(
        "AdvanceEncrypt",
        (
            KEY_ID,
            B64("Plaintext", required=True, max_len=8192, max_bytes=MAX_PLAINTEXT),
            B64("Aad", max_len=12 * 1024, max_bytes=MAX_AAD),
            B64("Iv", max_len=64, max_bytes=32),
            Str("Algorithm", max_len=32),
            Str("PaddingMode", max_len=32),
        ),
        advance_encrypt,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
)
