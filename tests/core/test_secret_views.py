"""GetSecretValue's cached views: a change in this process is seen at once; a change made by
another node (another process on the same store) is seen within the views' TTL."""

from __future__ import annotations

import time
from pathlib import Path

from mamori.app import bootstrap, build_services
from mamori.config import Settings
from mamori.core.refs import Scope
from mamori.core.secret_views import TTL
from mamori.core.secrets import Secret


def _secret(scope: Scope, key_id: str, now: int) -> Secret:
    return Secret(
        account_id=scope.account_id,
        name="viewed",
        secret_type="Generic",
        description="",
        encryption_key_id=key_id,
        secret_data_type="text",
        extended_config=None,
        creator="tester",
        created_at=now,
        updated_at=now,
        planned_delete_at=None,
    )


def test_changes_are_seen_at_once_here_and_within_the_ttl_elsewhere(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, store_url=f"sqlite:///{tmp_path / 'mamori.db'}")
    here = build_services(settings)
    bootstrap(here, settings)
    elsewhere = build_services(settings)
    scope = Scope("cn-hangzhou", settings.account_id)
    try:
        secrets, other = here.secrets, elsewhere.secrets
        secret = _secret(scope, secrets.encryption_key(scope, None), secrets.now())
        secrets.create(scope, secret, "v1", b"one", [])
        assert other.read(scope, "viewed", None, None)[1].data == b"one"

        secrets.put_value(scope, "viewed", "v2", b"two", "text", ["ACSCurrent"])
        assert secrets.read(scope, "viewed", None, None)[1].data == b"two"
        assert secrets.read(scope, "viewed", None, "ACSPrevious")[1].version_id == "v1"

        time.sleep(TTL + 0.1)
        assert other.read(scope, "viewed", None, None)[1].data == b"two"
        # A version without stages is read from the store.
        secrets.put_value(scope, "viewed", "v3", b"three", "text", ["ACSCurrent"])
        assert secrets.read(scope, "viewed", "v1", None)[1].stages == []
    finally:
        here.db.close()
        elsewhere.db.close()
