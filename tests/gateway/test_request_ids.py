"""Request ids stay unique across the worker processes a node forks."""

from __future__ import annotations

import os
import re

from mamori.gateway.request_ids import RequestIds

_SHAPE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def _from_child(ids: RequestIds) -> str:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id, then out without running the parent's cleanup
        os.write(write, ids.next().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        return pipe.read().decode()


def test_ids_have_alibabas_uuid_shape_and_do_not_repeat() -> None:
    ids = RequestIds()
    drawn = [ids.next() for _ in range(1000)]
    assert all(_SHAPE.match(one) for one in drawn)
    assert len(set(drawn)) == len(drawn)


def test_forked_workers_draw_ids_of_their_own() -> None:
    # A generator made before the fork (as the gateways' module-level ones are) must not give
    # two workers the same ids: each child reseeds.
    ids = RequestIds()
    first, second = _from_child(ids), _from_child(ids)
    assert first != second
    assert first[:23] != second[:23]
    assert ids.next()[:23] not in (first[:23], second[:23])
