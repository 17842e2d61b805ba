"""Asymmetric and HMAC actions: AsymmetricSign/Verify/Encrypt/Decrypt, GetPublicKey,
GenerateMac and VerifyMac.

Like the symmetric actions, each one runs every check first; a DryRun stops right there with
``DryRunOperationError`` and never touches key material.
"""

from __future__ import annotations

import base64

from mamori.api.catalogue import Action, Args, Call, Result
from mamori.api.errors import ApiError
from mamori.api.kms.keys import KEY_ID, key_resource
from mamori.api.params import B64, Bool, Str

DRY_RUN = Bool("DryRun")
VERSION_ID = Str("KeyVersionId", required=True, max_len=64)
ALGORITHM = Str("Algorithm", required=True, max_len=64)
# 32 bytes for every digest algorithm; Ed25519 (a Mamori extension) signs the bytes themselves.
DIGEST = B64("Digest", required=True, max_len=8192, max_bytes=4096)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _dry_run_ok() -> ApiError:
    return ApiError("DryRunOperationError")


def asymmetric_sign(call: Call, args: Args) -> Result:
    """AsymmetricSign."""
    asym = call.services.asymmetric
    key, version, algorithm = args["KeyId"], args["KeyVersionId"], args["Algorithm"]
    if call.dry_run:
        asym.check_sign(call.scope, key, version, algorithm, args["Digest"])
        raise _dry_run_ok()
    signed = asym.sign(call.scope, key, version, algorithm, args["Digest"])
    return {"KeyId": signed.key_id, "KeyVersionId": signed.version_id, "Value": _b64(signed.value)}


def asymmetric_verify(call: Call, args: Args) -> Result:
    """AsymmetricVerify: ``Value`` is a JSON boolean."""
    asym = call.services.asymmetric
    key, version_id, algorithm = args["KeyId"], args["KeyVersionId"], args["Algorithm"]
    if call.dry_run:
        asym.check_sign(call.scope, key, version_id, algorithm, args["Digest"])
        raise _dry_run_ok()
    version, valid = asym.verify(
        call.scope, key, version_id, algorithm, args["Digest"], args["Value"]
    )
    return {"KeyId": version.key_id, "KeyVersionId": version.version_id, "Value": valid}


def asymmetric_encrypt(call: Call, args: Args) -> Result:
    """AsymmetricEncrypt."""
    asym = call.services.asymmetric
    key, version, algorithm = args["KeyId"], args["KeyVersionId"], args["Algorithm"]
    if call.dry_run:
        asym.check_encrypt(call.scope, key, version, algorithm)
        raise _dry_run_ok()
    sealed = asym.encrypt(call.scope, key, version, algorithm, args["Plaintext"])
    return {
        "KeyId": sealed.key_id,
        "KeyVersionId": sealed.version_id,
        "CiphertextBlob": _b64(sealed.value),
    }


def asymmetric_decrypt(call: Call, args: Args) -> Result:
    """AsymmetricDecrypt."""
    asym = call.services.asymmetric
    key, version, algorithm = args["KeyId"], args["KeyVersionId"], args["Algorithm"]
    if call.dry_run:
        asym.check_encrypt(call.scope, key, version, algorithm)
        raise _dry_run_ok()
    opened = asym.decrypt(call.scope, key, version, algorithm, args["CiphertextBlob"])
    return {
        "KeyId": opened.key_id,
        "KeyVersionId": opened.version_id,
        "Plaintext": _b64(opened.value),
    }


def get_public_key(call: Call, args: Args) -> Result:
    """GetPublicKey: the version's SubjectPublicKeyInfo in PEM."""
    asym = call.services.asymmetric
    if call.dry_run:
        asym.key_version(call.scope, args["KeyId"], args["KeyVersionId"], None)
        raise _dry_run_ok()
    version, pem = asym.public_key(call.scope, args["KeyId"], args["KeyVersionId"])
    return {"KeyId": version.key_id, "KeyVersionId": version.version_id, "PublicKey": pem}


def generate_mac(call: Call, args: Args) -> Result:
    """GenerateMac."""
    asym = call.services.asymmetric
    if call.dry_run:
        asym.mac_key(call.scope, args["KeyId"], args["Algorithm"])
        raise _dry_run_ok()
    made = asym.generate_mac(call.scope, args["KeyId"], args["Algorithm"], args["Message"])
    return {"KeyId": made.key_id, "Algorithm": args["Algorithm"], "Mac": _b64(made.value)}


def verify_mac(call: Call, args: Args) -> Result:
    """VerifyMac: ``Value`` is a JSON boolean."""
    asym = call.services.asymmetric
    if call.dry_run:
        asym.mac_key(call.scope, args["KeyId"], args["Algorithm"])
        raise _dry_run_ok()
    version, valid = asym.verify_mac(
        call.scope, args["KeyId"], args["Algorithm"], args["Message"], args["Mac"]
    )
    return {"KeyId": version.key_id, "Algorithm": args["Algorithm"], "Value": valid}


_VERSIONED = (KEY_ID, VERSION_ID, ALGORITHM, DRY_RUN)
_MESSAGE = B64("Message", required=True, max_len=8192, max_bytes=4096)

ACTIONS = (
    Action(
        "AsymmetricSign",
        (*_VERSIONED, DIGEST),
        asymmetric_sign,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "AsymmetricVerify",
        (*_VERSIONED, DIGEST, B64("Value", required=True, max_len=2048, max_bytes=1024)),
        asymmetric_verify,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "AsymmetricEncrypt",
        (*_VERSIONED, B64("Plaintext", required=True, max_len=8192, max_bytes=6144)),
        asymmetric_encrypt,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "AsymmetricDecrypt",
        (
            *_VERSIONED,
            B64("CiphertextBlob", required=True, max_len=16 * 1024, max_bytes=8192),
        ),
        asymmetric_decrypt,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "GetPublicKey",
        (KEY_ID, VERSION_ID, DRY_RUN),
        get_public_key,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "GenerateMac",
        (KEY_ID, ALGORITHM, _MESSAGE, DRY_RUN),
        generate_mac,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
    Action(
        "VerifyMac",
        (KEY_ID, ALGORITHM, _MESSAGE, B64("Mac", required=True, max_len=2048), DRY_RUN),
        verify_mac,
        key_resource,
        business=True,
        inline=True,
        read_only=True,
    ),
)
