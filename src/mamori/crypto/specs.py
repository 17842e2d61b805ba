"""Key specs and what each one can do. One table; ``core`` asks it rather than matching names."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class KeyUsage(StrEnum):
    """What a key may be used for."""

    ENCRYPT_DECRYPT = "ENCRYPT/DECRYPT"
    SIGN_VERIFY = "SIGN/VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE/VERIFY_MAC"


class Cipher(StrEnum):
    """The symmetric AEAD a key spec uses for Mamori's ciphertext blobs."""

    AES_GCM = "AES-GCM"
    SM4_GCM = "SM4-GCM"


class Family(StrEnum):
    """The kind of material behind a spec, which decides how it is generated and loaded."""

    SYMMETRIC = "symmetric"
    HMAC = "hmac"
    RSA = "rsa"
    EC = "ec"
    SM2 = "sm2"
    ED25519 = "ed25519"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A KMS key spec: its name, usages (the first is the default), material, and the
    algorithms each usage allows."""

    name: str
    usages: tuple[KeyUsage, ...]
    # Random bytes generated for symmetric and HMAC keys; asymmetric keys size by ``family``.
    material_bytes: int = 0
    cipher: Cipher | None = None
    hsm_only: bool = False
    family: Family = Family.SYMMETRIC
    # RSA modulus bits; 0 for everything else.
    rsa_bits: int = 0
    encryption: tuple[str, ...] = ()
    signing: tuple[str, ...] = ()
    mac: tuple[str, ...] = ()
    # Not an Alibaba Cloud spec: a Mamori extension (EC_ED25519), documented as such.
    extension: bool = False

    @property
    def default_usage(self) -> KeyUsage:
        """The usage a key gets when CreateKey names none."""
        return self.usages[0]

    @property
    def symmetric(self) -> bool:
        """Whether blobs of this spec are Mamori's symmetric ciphertext format."""
        return self.cipher is not None

    @property
    def asymmetric(self) -> bool:
        """Whether keys of this spec are private/public key pairs."""
        return self.family not in (Family.SYMMETRIC, Family.HMAC)

    def supports(self, usage: KeyUsage) -> bool:
        """Whether a key of this spec may carry ``usage``."""
        return usage in self.usages

    def algorithms(self, usage: KeyUsage) -> tuple[str, ...]:
        """The algorithms a key of this spec accepts for ``usage`` (symmetric Encrypt takes
        none: the spec's cipher is implied)."""
        if usage is KeyUsage.ENCRYPT_DECRYPT:
            return self.encryption
        if usage is KeyUsage.SIGN_VERIFY:
            return self.signing
        return self.mac


_ENC = (KeyUsage.ENCRYPT_DECRYPT,)
_SIGN = (KeyUsage.SIGN_VERIFY,)
# Signing first: it is the default usage when the spec can sign (spec §7.2).
_SIGN_OR_ENC = (KeyUsage.SIGN_VERIFY, KeyUsage.ENCRYPT_DECRYPT)
_MAC = (KeyUsage.GENERATE_VERIFY_MAC,)
_OAEP = ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1")
_RSA_SIGN = ("RSA_PSS_SHA_256", "RSA_PKCS1_SHA_256")


def _rsa(bits: int) -> KeySpec:
    return KeySpec(
        f"RSA_{bits}",
        _SIGN_OR_ENC,
        family=Family.RSA,
        rsa_bits=bits,
        encryption=_OAEP,
        signing=_RSA_SIGN,
    )


def _hmac(name: str, size: int) -> KeySpec:
    return KeySpec(name, _MAC, size, family=Family.HMAC, mac=(name,))


SPECS: Final[dict[str, KeySpec]] = {
    spec.name: spec
    for spec in (
        KeySpec("Aliyun_AES_256", _ENC, 32, Cipher.AES_GCM),
        KeySpec("Aliyun_AES_192", _ENC, 24, Cipher.AES_GCM, hsm_only=True),
        KeySpec("Aliyun_AES_128", _ENC, 16, Cipher.AES_GCM),
        KeySpec("Aliyun_SM4", _ENC, 16, Cipher.SM4_GCM),
        _rsa(2048),
        _rsa(3072),
        _rsa(4096),
        KeySpec("EC_P256", _SIGN, family=Family.EC, signing=("ECDSA_SHA_256",)),
        KeySpec("EC_P256K", _SIGN, family=Family.EC, signing=("ECDSA_SHA_256",)),
        KeySpec(
            "EC_SM2", _SIGN_OR_ENC, family=Family.SM2, encryption=("SM2PKE",), signing=("SM2DSA",)
        ),
        KeySpec("EC_ED25519", _SIGN, family=Family.ED25519, signing=("ED25519",), extension=True),
        # An HMAC key's material is as long as its hash's output (RFC 2104's recommendation).
        _hmac("HMAC_SHA_224", 28),
        _hmac("HMAC_SHA_256", 32),
        _hmac("HMAC_SHA_384", 48),
        _hmac("HMAC_SHA_512", 64),
        _hmac("HMAC_SM3", 32),
    )
}

DEFAULT_SPEC: Final = "Aliyun_AES_256"

# Data-key specs for GenerateDataKey (not CMK specs).
DATA_KEY_BYTES: Final[dict[str, int]] = {"AES_256": 32, "AES_128": 16}

# GenerateAndExportDataKey / ExportDataKey: the caller's public key specs and their algorithms.
EXPORT_WRAPPING: Final[dict[str, tuple[str, ...]]] = {
    "RSA_2048": SPECS["RSA_2048"].encryption,
    "EC_SM2": SPECS["EC_SM2"].encryption,
}

# Every signing algorithm takes a 32-byte digest (SHA-256, or SM3 of Z ‖ M for SM2DSA), except
# Ed25519, which signs the bytes given as they are (it hashes internally).
DIGEST_BYTES: Final[dict[str, int | None]] = {
    "RSA_PSS_SHA_256": 32,
    "RSA_PKCS1_SHA_256": 32,
    "ECDSA_SHA_256": 32,
    "SM2DSA": 32,
    "ED25519": None,
}
