"""The AAP decision (``ClientKeyAuthority``) on a real store (SQLite and PostgreSQL): templates ×
resources × instance × network rules, client key validity and deletion, and changes holding
from the next request on, on this node and on another one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from mamori.app import Services, bootstrap, build_services
from mamori.config import Settings
from mamori.core import instances
from mamori.core.invalidation import Invalidations
from mamori.iam.aap_services import AapServices, build_aap
from mamori.iam.client_key_authority import (
    KEY_USER,
    SECRET_USER,
    AccessDenied,
    ClientKeyAuthority,
    ClientKeyRefused,
    ClientKeySubject,
)
from mamori.store import schema as t
from tests.conftest import create_pg_database, drop_pg_database

NOW = 1_800_000_000.0
INSTANCE = "kst-abcdefghij0123456789a"
OTHER_INSTANCE = "kst-zzzzzzzzzz0123456789z"
PASSWORD = "Passw0rd-for-tests"
ACCOUNT = Settings().account_id


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    pg = create_pg_database() if request.param == "postgres" else None
    url = pg.url if pg else f"sqlite:///{tmp_path / 'mamori.db'}"
    settings = Settings(data_dir=tmp_path, store_url=url)
    built = build_services(settings, clock=Clock())
    bootstrap(built, settings)
    _instances_named_by_the_cases(built)
    try:
        yield built
    finally:
        built.db.close()
        if pg is not None:
            drop_pg_database(pg)


def _instances_named_by_the_cases(services: Services) -> None:
    """INSTANCE and OTHER_INSTANCE as instances of the account (ids are random when made through
    CreateKmsInstance; the cases name them as constants)."""
    with services.db.begin() as conn:
        for instance_id in (INSTANCE, OTHER_INSTANCE):
            conn.execute(
                insert(t.kms_instances).values(
                    id=instance_id, account_id=ACCOUNT, name=instance_id, spec=1000,
                    key_quota=1000, secret_quota=100, vpc_quota=5, status="Connected",
                    created_at=int(NOW),
                )
            )  # fmt: skip
    services.invalidations.publish(instances.TOPIC)


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def setup_aap(
    aap: AapServices,
    *,
    permissions: tuple[str, ...] = (KEY_USER,),
    resources: tuple[str, ...] = ("key/*",),
    sources: tuple[str, ...] = ("127.0.0.1", "10.1.0.0/16"),
    instance: str = INSTANCE,
    name: str = "app",
) -> ClientKeySubject:
    aap.rules.create(ACCOUNT, f"{name}-rule", "Private", sources)
    aap.policies.create(
        ACCOUNT, f"{name}-policy", instance, permissions, resources, [f"{name}-rule"]
    )
    aap.points.create(ACCOUNT, name, [f"{name}-policy"])
    key, _issued = aap.client_keys.create(ACCOUNT, name, PASSWORD)
    return aap.authority.authenticate(key.key_id, at(NOW))


def allowed(
    authority: ClientKeyAuthority,
    subject: ClientKeySubject,
    permission: str = KEY_USER,
    resources: tuple[str, ...] = ("key/key-1",),
    instance: str = INSTANCE,
    peer: str = "127.0.0.1",
) -> bool:
    try:
        authority.authorize(subject, permission, resources, instance, peer)  # type: ignore[arg-type]
    except AccessDenied:
        return False
    return True


def test_the_services_object_carries_the_authority(services: Services) -> None:
    assert services.client_key_authority is services.aap.authority


def test_templates_resources_instances_and_networks(services: Services) -> None:
    aap = services.aap
    subject = setup_aap(
        aap,
        permissions=(KEY_USER, SECRET_USER),
        resources=("key/key-1", "alias/app", "secret/db"),
    )
    authority = services.client_key_authority
    assert subject.aap_name == "app" and subject.account_id == ACCOUNT
    assert allowed(authority, subject)
    assert allowed(authority, subject, resources=("key/key-2", "alias/app"))  # via its alias
    assert not allowed(authority, subject, resources=("key/key-2",))
    assert not allowed(authority, subject, resources=("key/key-2", "alias/other"))
    assert allowed(authority, subject, SECRET_USER, ("secret/db",))
    assert not allowed(authority, subject, SECRET_USER, ("secret/other",))
    # A template grants on its own kind of resource only.
    assert not allowed(authority, subject, SECRET_USER, ("key/key-1",))
    assert not allowed(authority, subject, KEY_USER, ("secret/db",))
    # The instance, and the peer address against the rule's IPs and blocks.
    assert not allowed(authority, subject, instance=OTHER_INSTANCE)
    assert allowed(authority, subject, peer="10.1.200.3")
    assert allowed(authority, subject, peer="::ffff:127.0.0.1")  # a dual-stack listener
    for peer in ("127.0.0.2", "10.2.0.1", "::1", "not-an-ip", ""):
        assert not allowed(authority, subject, peer=peer), peer


def test_wildcards_and_ipv6(services: Services) -> None:
    subject = setup_aap(
        services.aap, permissions=(SECRET_USER,), resources=("secret/*",), sources=("fd00::/8",)
    )
    authority = services.client_key_authority
    assert allowed(authority, subject, SECRET_USER, ("secret/any/name",), peer="fd00::5")
    assert not allowed(authority, subject, SECRET_USER, ("secret/x",), peer="127.0.0.1")
    assert not allowed(authority, subject, KEY_USER, ("key/key-1",), peer="fd00::5")


def test_some_policy_must_grant_all_of_it(services: Services) -> None:
    """Permission from one policy and network from another do not add up."""
    aap = services.aap
    aap.rules.create(ACCOUNT, "near", "Private", ["127.0.0.1"])
    aap.rules.create(ACCOUNT, "far", "Private", ["10.9.9.9"])
    aap.policies.create(ACCOUNT, "keys-far", INSTANCE, [KEY_USER], ["key/*"], ["far"])
    aap.policies.create(ACCOUNT, "secrets-near", INSTANCE, [SECRET_USER], ["secret/*"], ["near"])
    aap.points.create(ACCOUNT, "mixed", ["keys-far", "secrets-near"])
    key, _ = aap.client_keys.create(ACCOUNT, "mixed", PASSWORD)
    subject = aap.authority.authenticate(key.key_id, at(NOW))
    assert not allowed(aap.authority, subject, KEY_USER, ("key/k",), peer="127.0.0.1")
    assert allowed(aap.authority, subject, KEY_USER, ("key/k",), peer="10.9.9.9")
    assert allowed(aap.authority, subject, SECRET_USER, ("secret/s",), peer="127.0.0.1")
    # A policy without network rules admits no address.
    aap.policies.create(ACCOUNT, "nowhere", INSTANCE, [KEY_USER], ["key/*"], [])
    aap.points.update(ACCOUNT, "mixed", ["nowhere"])
    assert not allowed(aap.authority, subject, KEY_USER, ("key/k",), peer="10.9.9.9")


def test_validity_and_deletion(services: Services) -> None:
    aap = services.aap
    setup_aap(aap)
    key, _ = aap.client_keys.create(
        ACCOUNT, "app", PASSWORD, "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"
    )
    authority = aap.authority
    start, end = datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    assert authority.authenticate(key.key_id, start).client_key_id == key.key_id
    assert authority.authenticate(key.key_id, end).client_key_id == key.key_id
    for moment in (
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2028, 1, 1, 0, 0, 1, tzinfo=UTC),
    ):
        with pytest.raises(ClientKeyRefused):
            authority.authenticate(key.key_id, moment)
    for unknown in ("KAAP.00000000-0000-0000-0000-000000000000", "", "x" * 500):
        with pytest.raises(ClientKeyRefused):
            authority.authenticate(unknown, start)
    aap.client_keys.delete(ACCOUNT, key.key_id)
    with pytest.raises(ClientKeyRefused):
        authority.authenticate(key.key_id, start)


def test_every_change_holds_from_the_next_request(services: Services) -> None:
    aap = services.aap
    subject = setup_aap(aap)
    authority = aap.authority
    assert allowed(authority, subject)  # now cached
    aap.rules.update(ACCOUNT, "app-rule", ["10.0.0.1"], None)  # the rule narrowed
    assert not allowed(authority, subject)
    aap.rules.update(ACCOUNT, "app-rule", ["127.0.0.0/8"], None)
    assert allowed(authority, subject)
    aap.policies.update(ACCOUNT, "app-policy", resources=["key/key-9"])  # resources narrowed
    assert not allowed(authority, subject)
    assert allowed(authority, subject, resources=("key/key-9",))
    aap.policies.create(ACCOUNT, "other", INSTANCE, [SECRET_USER], ["secret/*"], ["app-rule"])
    aap.points.update(ACCOUNT, "app", ["other"])  # the policy detached
    assert not allowed(authority, subject, resources=("key/key-9",))
    assert allowed(authority, subject, SECRET_USER, ("secret/s",))
    aap.points.delete(ACCOUNT, "app")  # the AAP and its client keys
    assert not allowed(authority, subject, SECRET_USER, ("secret/s",))
    with pytest.raises(ClientKeyRefused):
        authority.authenticate(subject.client_key_id, at(NOW))


def test_another_node_follows_through_the_bus(services: Services) -> None:
    """Node B caches a decision; node A's change reaches B as the bus delivers it (on
    PostgreSQL, LISTEN/NOTIFY carries the same message)."""
    bus_b = Invalidations()
    node_b = build_aap(services.db, Clock(), 100, bus_b, services.instances.belongs)
    services.invalidations.connect(bus_b.receive)
    try:
        subject = setup_aap(services.aap)
        on_b = node_b.authority.authenticate(subject.client_key_id, at(NOW))
        assert allowed(node_b.authority, on_b)
        services.aap.rules.update(ACCOUNT, "app-rule", ["10.0.0.1"], None)
        assert not allowed(node_b.authority, on_b)
        services.aap.client_keys.delete(ACCOUNT, subject.client_key_id)
        with pytest.raises(ClientKeyRefused):
            node_b.authority.authenticate(subject.client_key_id, at(NOW))
    finally:
        services.invalidations.connect(None)


def test_an_unknown_key_is_remembered_until_a_change(services: Services) -> None:
    """Unknown ids are cached too (a flood of made-up ids does not reach the store each time),
    and any change forgets them."""
    aap = services.aap
    setup_aap(aap)
    with pytest.raises(ClientKeyRefused):
        aap.authority.authenticate("KAAP.00000000-0000-4000-8000-000000000000", at(NOW))
    key, _ = aap.client_keys.create(ACCOUNT, "app", PASSWORD)
    assert aap.authority.authenticate(key.key_id, at(NOW)).client_key_id == key.key_id


def test_a_call_naming_no_resource_is_authorized_in_a_granting_policys_instance(
    services: Services,
) -> None:
    aap = services.aap
    authority = services.client_key_authority
    keys = setup_aap(aap, resources=("key/key-1",), instance=OTHER_INSTANCE)
    # No instance addressed: the granting policy's instance pays for it.
    assert authority.authorize_any(keys, KEY_USER, None, "127.0.0.1") == OTHER_INSTANCE
    assert authority.authorize_any(keys, KEY_USER, OTHER_INSTANCE, "127.0.0.1") == OTHER_INSTANCE
    for instance, permission, peer in (
        (INSTANCE, KEY_USER, "127.0.0.1"),  # addressed an instance the policy is not in
        (None, SECRET_USER, "127.0.0.1"),  # the template is not granted
        (None, KEY_USER, "127.0.0.2"),  # outside the network rule
        (None, KEY_USER, "not an address"),
    ):
        with pytest.raises(AccessDenied):
            authority.authorize_any(keys, permission, instance, peer)  # type: ignore[arg-type]
    secrets = setup_aap(aap, permissions=(SECRET_USER,), resources=("secret/db",), name="reader")
    with pytest.raises(AccessDenied):
        authority.authorize_any(secrets, KEY_USER, None, "127.0.0.1")
    assert authority.authorize_any(secrets, SECRET_USER, None, "127.0.0.1") == INSTANCE


def test_an_ill_formed_id_is_refused_without_the_store(services: Services) -> None:
    from mamori.store.database import memory_only

    with memory_only(), pytest.raises(ClientKeyRefused):  # StoreNeeded if it read the store
        services.aap.authority.authenticate("KAAP.made-up", at(NOW))


def test_unknown_ids_never_evict_a_live_key(services: Services) -> None:
    """Made-up ids are remembered apart: a flood of them past the cache's size leaves the live
    key cached (no store read on its next request)."""
    import uuid

    from mamori.iam.aap_authority import AapAuthority
    from mamori.store.database import memory_only

    subject = setup_aap(services.aap)
    authority = AapAuthority(services.db, 4, Invalidations())
    assert authority.authenticate(subject.client_key_id, at(NOW)) == subject
    for _ in range(10):
        with pytest.raises(ClientKeyRefused):
            authority.authenticate(f"KAAP.{uuid.uuid4()}", at(NOW))
    with memory_only():
        assert authority.authenticate(subject.client_key_id, at(NOW)) == subject


def test_screening_covers_the_names_as_given(services: Services) -> None:
    aap = services.aap
    authority = services.client_key_authority
    named = setup_aap(aap, resources=("key/key-1", "alias/alias/app"), name="named")
    wild = setup_aap(aap, resources=("key/*",), instance=OTHER_INSTANCE, name="wild")

    def screened(subject: ClientKeySubject, *names: str, peer: str = "127.0.0.1") -> str | None:
        try:
            return authority.screen(subject, KEY_USER, names, None, peer)
        except AccessDenied:
            return None

    assert screened(named, "key/key-1") == INSTANCE
    assert screened(named, "key/key-2") is None
    assert screened(named, "alias/alias/other") == INSTANCE  # an alias may lead to key-1
    assert screened(named, "key/key-1", peer="127.0.0.2") is None
    assert screened(wild, "key/anything") == OTHER_INSTANCE
    assert screened(wild) == OTHER_INSTANCE  # no name: any key grant
    with pytest.raises(AccessDenied):
        authority.screen(named, SECRET_USER, ("secret/db",), None, "127.0.0.1")
    with pytest.raises(AccessDenied):
        authority.screen(wild, KEY_USER, ("key/x",), INSTANCE, "127.0.0.1")
