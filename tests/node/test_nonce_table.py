"""The node's replay memory: once per AccessKey and nonce while the request could be fresh, in
bounded shared memory, across processes, failing closed when full."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mamori.node.nonce_table import BYTES_PER_NONCE, NonceTable, TableFull

T0 = 1_735_787_045.0  # 2025-01-02T03:04:05Z
WINDOW = 900.0
SKEW = 60.0


@pytest.fixture
def table(tmp_path: Path) -> NonceTable:
    return NonceTable(tmp_path / "nonces.lock", 10_000, window=WINDOW, skew=SKEW)


def test_replay_is_refused(table: NonceTable) -> None:
    assert table.check_and_remember("AK1", "n1", T0, T0)
    assert not table.check_and_remember("AK1", "n1", T0, T0 + 1)
    assert len(table) == 1


def test_nonce_is_per_access_key(table: NonceTable) -> None:
    assert table.check_and_remember("AK1", "n1", T0, T0)
    assert table.check_and_remember("AK2", "n1", T0, T0)
    assert table.check_and_remember("AK1", "n2", T0, T0)


@pytest.mark.parametrize("stamp", [-WINDOW, -300.0, 0.0, 300.0, WINDOW])
def test_a_pair_is_remembered_while_its_request_could_be_fresh(
    table: NonceTable, stamp: float
) -> None:
    """Stamped anywhere within the window, a pair is refused at every instant its request
    passes the freshness check (|now - ts| <= window), plus the skew."""
    assert table.check_and_remember("AK", "n", T0 + stamp, T0)
    for later in range(0, int(stamp + WINDOW + SKEW) + 1, 7):
        assert not table.check_and_remember("AK", "n", T0 + stamp, T0 + later)


def test_an_expired_generation_is_forgotten_in_one_step(table: NonceTable) -> None:
    assert table.check_and_remember("AK", "n", T0, T0)
    # Long after the request went stale, the same nonce with a fresh timestamp is new again.
    later = T0 + 3 * (WINDOW + SKEW)
    assert table.check_and_remember("AK", "n", later, later)


def test_a_full_generation_refuses_and_forgets_nothing(tmp_path: Path) -> None:
    table = NonceTable(tmp_path / "lock", 32, window=WINDOW, skew=SKEW, width=300.0)
    accepted = 0
    with pytest.raises(TableFull):
        while True:
            assert table.check_and_remember("AK", str(accepted), T0, T0)
            accepted += 1
    assert accepted == int(table.slots * 0.75)
    for n in range(accepted):  # every accepted pair is still refused
        assert not table.check_and_remember("AK", str(n), T0, T0)


def test_a_timestamp_past_the_window_is_a_programming_error(table: NonceTable) -> None:
    with pytest.raises(ValueError):
        table.check_and_remember("AK", "n", T0 + 10 * WINDOW, T0)


def test_memory_is_what_the_docs_say(tmp_path: Path) -> None:
    """docs/configuration.md: 8 generations, each for (width / (window + skew)) of the
    capacity at 75% load: about 26.7 bytes of shared memory per nonce of capacity."""
    table = NonceTable(tmp_path / "lock", 8_000_000, window=WINDOW, skew=SKEW)
    assert table.generations == 8
    assert pytest.approx(10.67, abs=0.01) == BYTES_PER_NONCE
    assert table.bytes / 8_000_000 == pytest.approx(26.7, abs=0.1)


def test_processes_forked_after_it_share_it(table: NonceTable) -> None:
    assert table.check_and_remember("AK", "parent", T0, T0)
    pid = os.fork()
    if pid == 0:
        seen = not table.check_and_remember("AK", "parent", T0, T0)
        fresh = table.check_and_remember("AK", "child", T0, T0)
        os._exit(0 if seen and fresh else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not table.check_and_remember("AK", "child", T0, T0)


@pytest.mark.parametrize("kwargs", [{"capacity": 0}, {"window": 0}, {"width": 0}, {"skew": -1}])
def test_bad_configuration(tmp_path: Path, kwargs: dict[str, float]) -> None:
    arguments: dict[str, float] = {"capacity": 100, **kwargs}
    with pytest.raises(ValueError):
        NonceTable(tmp_path / "lock", **arguments)  # type: ignore[arg-type]


# -- across a restart: saved when the node stops, loaded when it starts --------------------------


def test_a_saved_table_refuses_its_replays_after_a_load(tmp_path: Path) -> None:
    before = NonceTable(tmp_path / "lock", 10_000, window=WINDOW, skew=SKEW)
    for n in range(200):
        assert before.check_and_remember("AK", f"n{n}", T0 + 300, T0)
    before.save(tmp_path / "nonces.table")
    assert (tmp_path / "nonces.table").stat().st_mode & 0o777 == 0o600
    # A new node: a table of its own, with a key of its own until it loads the saved one.
    after = NonceTable(tmp_path / "lock2", 10_000, window=WINDOW, skew=SKEW)
    assert after.load(tmp_path / "nonces.table")
    assert len(after) == 200
    for n in range(200):
        assert not after.check_and_remember("AK", f"n{n}", T0 + 300, T0 + 60)
    assert after.check_and_remember("AK", "new", T0 + 300, T0 + 60)


def test_a_quiet_table_saves_only_the_pages_that_hold_anything(tmp_path: Path) -> None:
    table = NonceTable(tmp_path / "lock", 8_000_000, window=WINDOW, skew=SKEW)
    assert table.check_and_remember("AK", "n", T0, T0)
    table.save(tmp_path / "nonces.table")
    assert table.bytes > 100_000_000
    assert (tmp_path / "nonces.table").stat().st_size < 3 * 4096 + 100


def test_no_saved_table_or_one_of_another_size_loads_nothing(tmp_path: Path) -> None:
    table = NonceTable(tmp_path / "lock", 10_000, window=WINDOW, skew=SKEW)
    assert not table.load(tmp_path / "absent")
    assert table.check_and_remember("AK", "n", T0, T0)
    table.save(tmp_path / "nonces.table")
    other = NonceTable(tmp_path / "lock2", 20_000, window=WINDOW, skew=SKEW)
    assert not other.load(tmp_path / "nonces.table")
    assert other.check_and_remember("AK", "n", T0, T0)  # it knows nothing: the horizon's case


@pytest.mark.parametrize("cut", [10, 60, -1])
def test_a_damaged_saved_table_loads_nothing(tmp_path: Path, cut: int) -> None:
    table = NonceTable(tmp_path / "lock", 10_000, window=WINDOW, skew=SKEW)
    assert table.check_and_remember("AK", "n", T0, T0)
    table.save(tmp_path / "nonces.table")
    data = (tmp_path / "nonces.table").read_bytes()
    (tmp_path / "nonces.table").write_bytes(data[:cut])
    fresh = NonceTable(tmp_path / "lock2", 10_000, window=WINDOW, skew=SKEW)
    assert not fresh.load(tmp_path / "nonces.table")
    assert len(fresh) == 0


def test_a_load_takes_over_the_saved_since_and_consumes_the_file(tmp_path: Path) -> None:
    """The loaded table knows what was accepted since the saved one's ``since``, so it keeps
    that horizon (a slow client signing just before the start is served); and the file goes, so
    a node that dies after this start cannot load it again, knowing nothing of what came after.
    """
    before = NonceTable(tmp_path / "lock", 10_000, window=WINDOW, skew=SKEW)
    before.since = int(T0)
    before.save(tmp_path / "nonces.table")
    after = NonceTable(tmp_path / "lock2", 10_000, window=WINDOW, skew=SKEW)
    assert after.since > T0
    assert after.load(tmp_path / "nonces.table")
    assert after.since == int(T0)
    assert not (tmp_path / "nonces.table").exists()
    # A saved since later than this table's own (damage) never holds the node back.
    after.since = int(T0) + 10**9
    after.save(tmp_path / "nonces.table")
    again = NonceTable(tmp_path / "lock3", 10_000, window=WINDOW, skew=SKEW)
    own = again.since
    assert again.load(tmp_path / "nonces.table")
    assert again.since == own


def test_save_never_writes_through_a_link_planted_for_its_temporary_file(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "nonces.table.tmp").symlink_to(victim)
    table = NonceTable(tmp_path / "lock", 10_000, window=WINDOW, skew=SKEW)
    table.save(tmp_path / "nonces.table")
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "nonces.table").is_symlink()
    assert (tmp_path / "nonces.table").stat().st_mode & 0o777 == 0o600


def test_a_fifo_or_a_symlink_in_place_of_the_saved_table_loads_nothing(tmp_path: Path) -> None:
    """Neither blocks the start (a FIFO's open would wait for a writer) nor is followed."""
    table = NonceTable(tmp_path / "lock", 10_000, window=WINDOW, skew=SKEW)
    table.save(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    fresh = NonceTable(tmp_path / "lock2", 10_000, window=WINDOW, skew=SKEW)
    assert not fresh.load(tmp_path / "fifo")
    assert not fresh.load(tmp_path / "link")
    assert (tmp_path / "real").exists()
