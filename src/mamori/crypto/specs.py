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


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A KMS key spec: its name, the usages it supports, and its material size."""

    name: str
    usages: tuple[KeyUsage, ...]
    material_bytes: int
    cipher: Cipher | None = None
    hsm_only: bool = False

    @property
    def default_usage(self) -> KeyUsage:
        """The usage a key gets when CreateKey names none."""
        return self.usages[0]

    @property
    def symmetric(self) -> bool:
        """Whether blobs of this spec are Mamori's symmetric ciphertext format."""
        return self.cipher is not None

    def supports(self, usage: KeyUsage) -> bool:
        """Whether a key of this spec may carry ``usage``."""
        return usage in self.usages


_ENC = (KeyUsage.ENCRYPT_DECRYPT,)

SPECS: Final[dict[str, KeySpec]] = {
    spec.name: spec
    for spec in (
        KeySpec("Aliyun_AES_256", _ENC, 32, Cipher.AES_GCM),
        KeySpec("Aliyun_AES_192", _ENC, 24, Cipher.AES_GCM, hsm_only=True),
        KeySpec("Aliyun_AES_128", _ENC, 16, Cipher.AES_GCM),
        KeySpec("Aliyun_SM4", _ENC, 16, Cipher.SM4_GCM),
    )
}

DEFAULT_SPEC: Final = "Aliyun_AES_256"

# Data-key specs for GenerateDataKey (not CMK specs).
DATA_KEY_BYTES: Final[dict[str, int]] = {"AES_256": 32, "AES_128": 16}
