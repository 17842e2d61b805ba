"""What a token can hold and run, as KMS specs and algorithms.

A mechanism list says too little: SoftHSM2 2.6 lists ``CKM_RSA_PKCS_OAEP`` but takes only SHA-1
in its parameters, and lists ``CKM_EC_KEY_PAIR_GEN`` without naming curves. So the token is
asked for its mechanisms once, and each RSA algorithm and EC curve is then tried once on a
session key (gone when the probe ends) and the result checked with ``cryptography``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.crypto.specs import Family, KeySpec, KeyUsage


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The probe's findings for one token."""

    # (min, max) modulus bits of CKM_RSA_PKCS_KEY_PAIR_GEN; None when the token has none.
    rsa_bits: tuple[int, int] | None
    # RSA signing and decryption algorithms that worked on a probe key.
    rsa: frozenset[str]
    # EC key specs whose curve the token generated and signed with.
    curves: frozenset[str]
    # HMAC specs with a listed HMAC mechanism (and CKM_GENERIC_SECRET_KEY_GEN).
    hmac: frozenset[str]

    def algorithms(self, spec: KeySpec, usage: KeyUsage) -> frozenset[str]:
        """The algorithms of ``spec`` for ``usage`` a key in this token runs; empty when the
        token cannot hold such a key at all."""
        offered = frozenset(spec.algorithms(usage))
        if spec.family is Family.RSA:
            if self.rsa_bits is None or not self.rsa_bits[0] <= spec.rsa_bits <= self.rsa_bits[1]:
                return frozenset()
            return offered & self.rsa
        if spec.family is Family.EC:
            return offered if spec.name in self.curves else frozenset()
        if spec.family is Family.HMAC:
            return offered & self.hmac
        return frozenset()
