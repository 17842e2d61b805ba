"""Scheduled deletion and automatic rotation happen when due, exactly once, and not before."""

from __future__ import annotations

import pytest

from mamori.app import Services
from mamori.core import tags
from mamori.core.errors import KeyNotFound
from mamori.core.jobs import run_due
from mamori.core.keys import DAY, NewKey
from mamori.core.refs import Scope
from tests.core.conftest import FakeClock


def test_a_key_is_deleted_when_its_window_ends(
    services: Services, scope: Scope, clock: FakeClock
) -> None:
    key = services.keys.create(scope, "tester", NewKey(tags=[("team", "a")]))
    services.aliases.create(scope, "alias/doomed", key.id)
    services.keys.schedule_deletion(scope, key.id, 7)

    assert run_due(services.keys, int(clock.now + 7 * DAY - 1)).deleted == []
    assert services.keys.resolve(scope, key.id).state == "PendingDeletion"

    assert run_due(services.keys, int(clock.now + 7 * DAY)).deleted == [key.id]
    with pytest.raises(KeyNotFound):
        services.keys.resolve(scope, key.id)
    with pytest.raises(KeyNotFound):
        services.keys.resolve(scope, "alias/doomed")
    assert tags.of(services.db, "key", [key.id]) == {key.id: {}}
    assert run_due(services.keys, int(clock.now + 8 * DAY)).deleted == []


def test_a_cancelled_deletion_does_not_happen(
    services: Services, scope: Scope, clock: FakeClock
) -> None:
    key = services.keys.create(scope, "tester", NewKey())
    services.keys.schedule_deletion(scope, key.id, 7)
    services.keys.cancel_deletion(scope, key.id)
    assert run_due(services.keys, int(clock.now + 30 * DAY)).deleted == []
    assert services.keys.resolve(scope, key.id).state == "Enabled"


def test_automatic_rotation_happens_once_when_due_and_old_versions_decrypt(
    services: Services, scope: Scope, clock: FakeClock
) -> None:
    key = services.keys.create(
        scope, "tester", NewKey(rotation_enabled=True, rotation_interval=7 * DAY)
    )
    old_blob = services.crypto.encrypt(scope, key.id, b"before rotation", {"k": "v"})
    first_version = key.primary_version_id

    assert run_due(services.keys, int(clock.now + 7 * DAY - 1)).rotated == []
    clock.advance(7 * DAY)
    assert run_due(services.keys, int(clock.now)).rotated == [key.id]
    assert run_due(services.keys, int(clock.now)).rotated == []

    rotated = services.keys.resolve(scope, key.id)
    assert rotated.primary_version_id != first_version
    assert rotated.last_rotation_at == int(clock.now)
    assert rotated.next_rotation_at == int(clock.now + 7 * DAY)
    new_blob = services.crypto.encrypt(scope, key.id, b"after", None)
    assert new_blob.version_id == rotated.primary_version_id
    opened = services.crypto.decrypt(scope, old_blob.blob, {"k": "v"})
    assert (opened.plaintext, opened.version_id) == (b"before rotation", first_version)
    _, total = services.keys.list_versions(scope, key.id, 0, 10)
    assert total == 2


def test_keys_without_rotation_or_not_enabled_are_left_alone(
    services: Services, scope: Scope, clock: FakeClock
) -> None:
    plain = services.keys.create(scope, "tester", NewKey())
    disabled = services.keys.create(
        scope, "tester", NewKey(rotation_enabled=True, rotation_interval=7 * DAY)
    )
    services.keys.disable(scope, disabled.id)
    assert run_due(services.keys, int(clock.now + 400 * DAY)).rotated == []
    assert services.keys.resolve(scope, plain.id).last_rotation_at is None
