"""Automatic rotation of an Rds secret on a fixed clock, against the machine's MariaDB: a due
rotation changes the password; a failed one leaves ACSCurrent alone and is retried after
RETRY_DELAY, resuming the version it prepared."""

from __future__ import annotations

import json

from mamori.app import Services
from mamori.core.jobs import run_due
from mamori.core.managed_rotation import PENDING, RETRY_DELAY
from mamori.core.refs import Scope
from mamori.core.secrets import DAY, Secret
from tests import databases as dbs
from tests.core.conftest import FakeClock


def _rds(services: Services, scope: Scope, user: str, now: int) -> Secret:
    config = {"SecretSubType": "SingleUser", "DBInstanceId": dbs.MYSQL_URL}
    return Secret(
        account_id=scope.account_id,
        name=f"rds-{user}",
        secret_type="Rds",
        description="",
        encryption_key_id=services.secrets.encryption_key(scope, None),
        secret_data_type="text",
        extended_config=json.dumps(config),
        creator="tester",
        created_at=now,
        updated_at=now,
        planned_delete_at=None,
        rotation_enabled=True,
        rotation_interval=DAY,
        next_rotation_at=now + DAY,
    )


def _account(services: Services, scope: Scope, name: str) -> tuple[str, str, str]:
    value = services.secrets.value(scope, name, None, None)
    data = json.loads(value.data)
    return value.version_id, data["AccountName"], data["AccountPassword"]


def test_due_rds_rotation_fails_then_is_retried(
    services: Services, scope: Scope, clock: FakeClock
) -> None:
    now = int(clock.now)
    user = dbs.account_name()
    secrets = services.secrets
    with dbs.mysql_accounts((user, "Known-1a!")):
        secret = _rds(services, scope, user, now)
        data = json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "Known-1a!"}]})
        secrets.create(scope, secret, "v1", data.encode(), [])
        mine = f"{scope.account_id}/{secret.name}"
        due = now + DAY

        dbs.set_password("mysql", user, "Changed-elsewhere-2b")
        assert run_due(services.keys, due, secrets).rotated_secrets == []
        assert _account(services, scope, secret.name) == ("v1", user, "Known-1a!")
        assert secrets.get(scope, secret.name).next_rotation_at == due + RETRY_DELAY
        pending = [v for v in secrets.versions(scope, secret.name, True) if PENDING in v.stages]
        assert len(pending) == 1

        # Not yet retried before the delay; after it, the same prepared version is finished.
        dbs.set_password("mysql", user, "Known-1a!")
        assert run_due(services.keys, due + RETRY_DELAY - 1, secrets).rotated_secrets == []
        assert run_due(services.keys, due + RETRY_DELAY, secrets).rotated_secrets == [mine]
        version, account, password = _account(services, scope, secret.name)
        assert (version, account) == (pending[0].version_id, user)
        assert dbs.mysql_logs_in(user, password)
        record = secrets.get(scope, secret.name)
        assert record.last_rotation_at == due + RETRY_DELAY
        assert record.next_rotation_at == due + RETRY_DELAY + DAY
        assert [v for v in secrets.versions(scope, secret.name, True) if PENDING in v.stages] == []
