"""Crash safety: a SIGKILL mid-load loses no acknowledged write nor its audit record, and the
audit chain verifies after every restart, on SQLite and PostgreSQL (docs/operations.md, "Crash
guarantees"). ``benchmarks/crash.py`` runs 50 rounds."""

from __future__ import annotations

import random

from tests.conftest import ServerProcess
from tests.store.crash_load import crash_round

ROUNDS = 2
CLIENTS = 4


def test_a_sigkill_mid_load_loses_no_acknowledged_write(fresh_server: ServerProcess) -> None:
    rng = random.Random(12)
    for _ in range(ROUNDS):
        result = crash_round(fresh_server, CLIENTS, rng)
        assert result.lost == []
        # The kill landed mid-load: every kind of write was acknowledged before it.
        assert all(n > 0 for n in result.by_kind.values()), result.by_kind
