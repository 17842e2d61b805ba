"""Microbenchmark: Mamori's asymmetric and HMAC primitives, one operation at a time, in process.

    .venv/bin/python benchmarks/asymmetric_micro.py

For every asymmetric spec it times sign and verify (over a 32-byte digest; Ed25519 over 32
bytes of message), encrypt and decrypt of a 32-byte data key where the spec encrypts, and for
HMAC-SHA-256 and HMAC-SM3 one MAC of 1 KiB. SM2 goes through GmSSL (``gmssl-pyx``); everything
else through ``cryptography``. Prints microseconds per call and calls per second on one core
(best of several ``timeit`` repeats).
"""

from __future__ import annotations

import os
import timeit
from collections.abc import Callable

from mamori.crypto import asymmetric
from mamori.crypto.asymmetric import PrivateKey
from mamori.crypto.mac import MacKey
from mamori.crypto.material import KeyMaterial
from mamori.crypto.specs import SPECS


def best_us(call: Callable[[], object], number: int) -> float:
    """Microseconds per call, the best of five repeats of ``number`` calls."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def row(name: str, micros: float) -> None:
    print(f"{name:<34} {micros:>9.1f} µs {1e6 / micros:>10,.0f}/s")


def main() -> None:
    digest = os.urandom(32)
    data_key = os.urandom(32)
    for name, spec in SPECS.items():
        if not spec.asymmetric:
            continue
        key = PrivateKey(spec, asymmetric.generate(spec))
        number = 20 if spec.rsa_bits >= 3072 else 200
        for algorithm in spec.signing:
            signature = key.sign(algorithm, digest)
            row(f"{name} {algorithm} sign", best_us(lambda: key.sign(algorithm, digest), number))  # noqa: B023
            row(
                f"{name} {algorithm} verify",
                best_us(lambda: key.public.verify(algorithm, digest, signature), number),  # noqa: B023
            )
        for algorithm in spec.encryption:
            sealed = key.public.encrypt(algorithm, data_key)
            row(
                f"{name} {algorithm} encrypt",
                best_us(lambda: key.public.encrypt(algorithm, data_key), number),  # noqa: B023
            )
            row(
                f"{name} {algorithm} decrypt",
                best_us(lambda: key.decrypt(algorithm, sealed), number),  # noqa: B023
            )
    message = os.urandom(1024)
    for algorithm in ("HMAC_SHA_256", "HMAC_SM3"):
        mac = MacKey(algorithm, KeyMaterial(os.urandom(32)))
        row(f"{algorithm} 1 KiB", best_us(lambda: mac.mac(message), 2000))  # noqa: B023


if __name__ == "__main__":
    main()
