"""HSM key versions in ``core`` with a clock the test controls: automatic rotation and deletion
reach the token, and a failed store write leaves no token key behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pkcs11 import ObjectClass

from mamori.app import build_services, open_keyring
from mamori.config import Settings
from mamori.core.errors import InvalidInput
from mamori.core.hsm_keys import HsmVersions
from mamori.core.jobs import run_due
from mamori.core.keys import DAY, KeyService, NewKey
from mamori.core.refs import Scope
from mamori.hsm import Token
from tests.core.conftest import FakeClock
from tests.hsm.conftest import token_labels
from tests.hsm.softhsm import SoftHsm

SCOPE = Scope("cn-hangzhou", Settings().account_id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys(tmp_path: Path, token: Token, clock: FakeClock) -> Iterator[KeyService]:
    settings = Settings(data_dir=tmp_path, store_url=f"sqlite:///{tmp_path / 'mamori.db'}")
    services = build_services(settings, clock=clock)
    services.accounts.ensure(settings.account_id)
    keyring = open_keyring(services.db, settings)
    yield KeyService(services.db, keyring, clock, 100, HsmVersions(token))
    services.db.close()


def _seal_and_open(keys: KeyService, version_id: str) -> bytes:
    usable = keys.version(version_id)
    assert usable is not None
    iv, sealed = usable.aead.seal(b"payload", b"aad")
    return usable.aead.open(iv, sealed, b"aad")


def test_automatic_rotation_and_deletion_reach_the_token(
    keys: KeyService, clock: FakeClock, softhsm: SoftHsm
) -> None:
    new = NewKey(protection_level="HSM", rotation_enabled=True, rotation_interval=7 * DAY)
    key = keys.create(SCOPE, "tester", new)
    prefix = f"mamori/key/{key.id}/"
    assert token_labels(softhsm, prefix) == {prefix + str(key.primary_version_id)}

    assert run_due(keys, int(clock.now + 7 * DAY)).rotated == [key.id]
    rotated = keys.resolve(SCOPE, key.id)
    assert rotated.primary_version_id != key.primary_version_id
    assert len(token_labels(softhsm, prefix)) == 2
    for version in (key.primary_version_id, rotated.primary_version_id):
        assert version is not None
        assert _seal_and_open(keys, version) == b"payload"

    keys.schedule_deletion(SCOPE, key.id, 7)
    assert run_due(keys, int(clock.now + 15 * DAY)).deleted == [key.id]
    assert token_labels(softhsm, prefix) == set()


def test_a_failed_create_leaves_no_token_key(keys: KeyService, softhsm: SoftHsm) -> None:
    before = token_labels(softhsm, "mamori/key/")
    with pytest.raises(InvalidInput):
        keys.create(SCOPE, "tester", NewKey(protection_level="HSM", tags=[("acs:bad", "v")]))
    assert token_labels(softhsm, "mamori/key/") == before


def _all_labels(softhsm: SoftHsm, prefix: str) -> set[str]:
    """Labels of every key object (secret, private or public) starting with ``prefix``."""
    kinds = (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
    return set().union(*(token_labels(softhsm, prefix, kind) for kind in kinds))


@pytest.mark.parametrize("spec", ["RSA_2048", "EC_P256K", "HMAC_SHA_512"])
def test_asymmetric_and_hmac_token_objects_are_undone_and_deleted(
    keys: KeyService, clock: FakeClock, softhsm: SoftHsm, spec: str
) -> None:
    before = _all_labels(softhsm, "mamori/key/")
    with pytest.raises(InvalidInput):
        keys.create(SCOPE, "t", NewKey(spec=spec, protection_level="HSM", tags=[("acs:x", "v")]))
    assert _all_labels(softhsm, "mamori/key/") == before

    key = keys.create(SCOPE, "tester", NewKey(spec=spec, protection_level="HSM"))
    label = f"mamori/key/{key.id}/{key.primary_version_id}"
    assert _all_labels(softhsm, label) == {label}
    keys.schedule_deletion(SCOPE, key.id, 7)
    assert run_due(keys, int(clock.now + 8 * DAY)).deleted == [key.id]
    assert _all_labels(softhsm, "mamori/key/") == before
