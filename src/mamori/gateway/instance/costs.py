"""What an instance-API request costs of its instance's QPS budget, in Encrypts.

An instance's spec counts requests, and nearly every request costs about the same: an
``Encrypt`` served over TLS takes ~0.25 ms of the server's CPU (``benchmarks/instance_encrypt.py``
serves ~4,000 a second on one core of the 2-core development machine), most of it TLS, the
protobuf and the signature check. A few calls cost far more, and at one request each a client
key could spend the server's cores on its instance's budget while other tenants waited
(16 threads of RSA_4096 key pairs moved another instance's Encrypt p99 to 3 s). So a request
costs ``1 + its own work / 0.25 ms``, rounded, from these measurements (CPU ms, on the
development machine, ``cryptography`` 50; RSA generation is random, so its mean):

=========================  ======  =====
work                       ms      cost
=========================  ======  =====
RSA_2048 key pair          31      125
RSA_3072 key pair          121     500
RSA_4096 key pair          421     1700
EC_P256 / EC_P256K pair    0.02 / 0.24   1 / 2
RSA_2048 sign or decrypt   0.25    2
RSA_3072 sign or decrypt   0.73    4
RSA_4096 sign or decrypt   1.4     7
EC_P256K sign or verify    0.24    2
SM2 sign, decrypt, encrypt, verify   0.2–0.5   3
anything else              < 0.1   1
=========================  ======  =====

Alibaba, too, quotes a lower rate for asymmetric operations than for symmetric ones at the same
computing performance. Key pairs of the RSA specs also need one of the instance's
``PAIR_SLOTS`` generation slots: at most that many run at once per instance, so they can never
occupy every worker thread, whatever the instance's spec.
"""

from __future__ import annotations

import threading
from typing import Final

PAIR_COSTS: Final = {
    "RSA_2048": 125,
    "RSA_3072": 500,
    "RSA_4096": 1700,
    "EC_P256": 1,
    "EC_P256K": 2,
}
# Calls that use the private key (Sign, asymmetric Decrypt) and the public one (Verify,
# asymmetric Encrypt), by the key's spec; any spec not named costs 1.
PRIVATE_COSTS: Final = {
    "RSA_2048": 2,
    "RSA_3072": 4,
    "RSA_4096": 7,
    "EC_P256K": 2,
    "EC_SM2": 3,
}
PUBLIC_COSTS: Final = {"EC_P256K": 2, "EC_SM2": 3}
_PRIVATE_APIS: Final = frozenset({"Sign", "Decrypt"})
_PUBLIC_APIS: Final = frozenset({"Verify", "Encrypt"})
# Key pairs generated at once per instance, for the specs that take milliseconds (RSA).
PAIR_SLOTS: Final = 1
SLOTTED_PAIRS: Final = frozenset({"RSA_2048", "RSA_3072", "RSA_4096"})


def cost_of(api: str, key_spec: str, pair_spec: str | None) -> int:
    """The cost of ``api`` on a key of ``key_spec`` (``pair_spec``: the key pair asked for)."""
    if pair_spec is not None:
        return PAIR_COSTS.get(pair_spec, 1)
    if api in _PRIVATE_APIS:
        return PRIVATE_COSTS.get(key_spec, 1)
    if api in _PUBLIC_APIS:
        return PUBLIC_COSTS.get(key_spec, 1)
    return 1


class PairSlots:
    """How many key pairs each instance is generating; at most ``limit`` at once."""

    def __init__(self, limit: int = PAIR_SLOTS) -> None:
        self._limit = limit
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, instance_id: str) -> bool:
        """Take a slot of the instance; False when all are in use."""
        with self._lock:
            busy = self._busy.get(instance_id, 0)
            if busy >= self._limit:
                return False
            self._busy[instance_id] = busy + 1
            return True

    def release(self, instance_id: str) -> None:
        """Give back a slot ``acquire`` took."""
        with self._lock:
            busy = self._busy[instance_id] - 1
            if busy:
                self._busy[instance_id] = busy
            else:
                del self._busy[instance_id]
