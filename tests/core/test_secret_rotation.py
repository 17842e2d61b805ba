"""Automatic rotation of Generic secrets on a fixed clock: a due secret is rotated exactly once;
a secret that is not due, or has rotation off, is left alone."""

from __future__ import annotations

from mamori.app import Services
from mamori.core.jobs import run_due
from mamori.core.refs import Scope
from mamori.core.secrets import DAY, Secret
from tests.core.conftest import FakeClock


def _secret(services: Services, scope: Scope, name: str, now: int, rotation: bool) -> Secret:
    return Secret(
        account_id=scope.account_id,
        name=name,
        secret_type="Generic",
        description="",
        encryption_key_id=services.secrets.encryption_key(scope, None),
        secret_data_type="text",
        extended_config='{"PasswordLength":"24","ExcludePunctuation":"true"}',
        creator="tester",
        created_at=now,
        updated_at=now,
        planned_delete_at=None,
        rotation_enabled=rotation,
        rotation_interval=DAY if rotation else None,
        next_rotation_at=now + DAY if rotation else None,
    )


def test_a_due_secret_is_rotated_once(services: Services, scope: Scope, clock: FakeClock) -> None:
    now = int(clock.now)
    secrets = services.secrets
    secrets.create(scope, _secret(services, scope, "due", now, True), "v1", b"seed", [])
    secrets.create(scope, _secret(services, scope, "off", now, False), "v1", b"seed", [])
    mine = f"{scope.account_id}/due"

    assert run_due(services.keys, now + DAY - 1, secrets).rotated_secrets == []
    assert secrets.value(scope, "due", None, None).version_id == "v1"

    assert run_due(services.keys, now + DAY, secrets).rotated_secrets == [mine]
    value = secrets.value(scope, "due", None, None)
    assert value.version_id.startswith("auto-") and len(value.data) == 24
    assert value.data.decode().isalnum()
    assert secrets.value(scope, "due", "v1", None).stages == ["ACSPrevious"]
    record = secrets.get(scope, "due")
    assert (record.last_rotation_at, record.next_rotation_at) == (now + DAY, now + 2 * DAY)

    # The same instant again: already rotated, nothing to do.
    assert run_due(services.keys, now + DAY, secrets).rotated_secrets == []
    assert secrets.value(scope, "due", None, None).version_id == value.version_id
    assert secrets.value(scope, "off", None, None).version_id == "v1"


def test_a_stale_claim_does_not_rotate_twice(
    services: Services, scope: Scope, clock: FakeClock
) -> None:
    now = int(clock.now)
    secrets = services.secrets
    secrets.create(scope, _secret(services, scope, "raced", now, True), "v1", b"seed", [])
    stale = secrets.get(scope, "raced")
    assert secrets.rotate_due_secrets(now + DAY) == [f"{scope.account_id}/raced"]
    # Another node that read the row before the first rotation loses the compare-and-set.
    assert secrets._rotate_due(stale, now + DAY) is False
    assert len(secrets.versions(scope, "raced", include_deprecated=True)) == 2
