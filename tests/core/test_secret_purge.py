"""A secret whose recovery window has ended is purged by the jobs pass, exactly once."""

from __future__ import annotations

import pytest

from mamori.app import Services
from mamori.core.jobs import run_due
from mamori.core.refs import Scope
from mamori.core.secrets import DAY, Secret, SecretNotFound
from tests.core.conftest import FakeClock


def test_a_secret_is_purged_when_its_window_ends(
    services: Services, scope: Scope, clock: FakeClock
) -> None:
    now = int(clock.now)
    secret = Secret(
        account_id=scope.account_id,
        name="doomed",
        secret_type="Generic",
        description="",
        encryption_key_id=services.secrets.encryption_key(scope, None),
        secret_data_type="text",
        extended_config=None,
        creator="tester",
        created_at=now,
        updated_at=now,
        planned_delete_at=None,
    )
    services.secrets.create(scope, secret, "v1", b"value", [("team", "a")])
    services.secrets.delete(scope, "doomed", force=False, days=7)
    secrets = services.secrets
    assert run_due(services.keys, now + 7 * DAY - 1, secrets).purged_secrets == []
    assert secrets.get(scope, "doomed").planned_delete_at == now + 7 * DAY
    purged = run_due(services.keys, now + 7 * DAY, secrets).purged_secrets
    assert purged == [f"{scope.account_id}/doomed"]
    with pytest.raises(SecretNotFound):
        secrets.get(scope, "doomed")
    assert run_due(services.keys, now + 8 * DAY, secrets).purged_secrets == []
    # The name is free again, and the default key is reused.
    services.secrets.create(scope, secret, "v1", b"again", [])
    assert secrets.value(scope, "doomed", None, None).data == b"again"
