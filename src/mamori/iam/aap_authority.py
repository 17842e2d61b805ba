"""The AAP decision the dedicated gateway asks for (``ClientKeyAuthority``), served from memory.

Bounded caches: client keys by id (the subject and its validity), unknown client key ids apart
(so a flood of made-up ids never evicts a live key), and AAPs by (account, name) (their
policies compiled: templates, resources, instance, networks). Every committed change to an AAP,
policy, network rule or client key publishes the account on the invalidation bus (topic
``aap``), and every node drops that account's entries, so a change holds from the next request
on everywhere. Writes are rare: dropping a whole account's entries keeps the rule simple and
exact."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from sqlalchemy import select

from mamori.core.cache import LruCache
from mamori.core.invalidation import Invalidations
from mamori.iam.aap_policies import rules_of
from mamori.iam.client_key_authority import (
    KEY_USER,
    SECRET_USER,
    AccessDenied,
    ClientKeyRefused,
    ClientKeySubject,
    Permission,
)
from mamori.iam.network_rules import Network, network
from mamori.store import schema as t
from mamori.store.database import Database

TOPIC: Final = "aap"
# The resource kinds each template grants: a key user never reads a secret, and the reverse.
_KINDS: Final[dict[str, tuple[str, ...]]] = {
    KEY_USER: ("key/", "alias/"),
    SECRET_USER: ("secret/",),
}


@dataclass(frozen=True, slots=True)
class _LiveKey:
    subject: ClientKeySubject
    not_before: int
    not_after: int


# What Alibaba issues and ``crypto/client_key.new_key_id`` makes: anything else is refused
# before the store is asked.
_CLIENT_KEY_ID: Final = re.compile(
    r"KAAP\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


@dataclass(frozen=True, slots=True)
class _Policy:
    permissions: frozenset[str]
    resources: frozenset[str]
    instance: str
    networks: tuple[Network, ...]

    def grants(self, permission: str, names: Sequence[str], instance: str) -> bool:
        if permission not in self.permissions or instance != self.instance:
            return False
        kinds = _KINDS[permission]
        for name in names:
            if not name.startswith(kinds):
                continue
            if name in self.resources:
                return True
            kind = name.split("/", 1)[0]
            if kind in ("key", "secret") and f"{kind}/*" in self.resources:
                return True
        return False

    def grants_some(self, permission: str, instance: str | None) -> bool:
        if permission not in self.permissions or instance not in (None, self.instance):
            return False
        return any(name.startswith(_KINDS[permission]) for name in self.resources)

    def covers(self, permission: str, names: Sequence[str], instance: str | None) -> bool:
        """Whether this policy could grant ``permission`` on what a request named, before the
        name is resolved: the name itself or its kind's wildcard; an alias may lead to any
        key, so any key grant covers one (``grants`` decides once it is resolved). No names:
        any resource of the template's kind."""
        if permission not in self.permissions or instance not in (None, self.instance):
            return False
        kinds = _KINDS[permission]
        if not names:  # a request naming nothing (GenerateRandom, a blob's version alone)
            return any(name.startswith(kinds) for name in self.resources)
        for name in names:
            if not name.startswith(kinds):
                continue
            if name in self.resources:
                return True
            kind = name.split("/", 1)[0]
            if kind in ("key", "secret") and f"{kind}/*" in self.resources:
                return True
            if kind == "alias" and any(r.startswith("key/") for r in self.resources):
                return True
        return False

    def admits(self, peer: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(peer in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class _Aap:
    account_id: str
    policies: tuple[_Policy, ...]


@functools.lru_cache(maxsize=4096)  # parsed twice a request (screen, authorize): 1.5 µs each
def _peer(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        peer = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; rules name them as IPv4.
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        return peer.ipv4_mapped
    return peer


class AapAuthority:
    """``ClientKeyAuthority`` over the AAP tables."""

    def __init__(self, db: Database, cache_size: int, bus: Invalidations) -> None:
        self._db = db
        self._keys: LruCache[str, _LiveKey] = LruCache(cache_size, "client_key")
        # "No such client key", apart: a flood of unknown ids evicts only other unknown ids,
        # never a live key (which would then cost a store read on its next request).
        self._unknown: LruCache[str, bool] = LruCache(cache_size)
        self._aaps: LruCache[tuple[str, str], _Aap] = LruCache(cache_size)
        self._bus = bus
        bus.register(TOPIC, self._forget, self.forget_all)

    def changed(self, account_id: str) -> None:
        """Publish a committed change to the account's AAPs (every node forgets them)."""
        self._bus.publish(TOPIC, account_id)

    def _forget(self, args: list[str]) -> None:
        account = args[0]
        self._keys.discard_where(lambda _k, v: v.subject.account_id == account)
        self._unknown.clear()  # the id may have been created since
        self._aaps.discard_where(lambda k, _v: k[0] == account)

    def forget_all(self) -> None:
        """Forget everything (after invalidation messages may have been missed)."""
        self._keys.clear()
        self._unknown.clear()
        self._aaps.clear()

    # -- authentication --------------------------------------------------------------------

    def authenticate(self, client_key_id: str, now: datetime) -> ClientKeySubject:
        """The subject of a live client key at ``now``, else ``ClientKeyRefused``. An id that
        is not ``KAAP.<uuid>`` is refused before any lookup; on a miss of both caches the store
        is read (``StoreNeeded`` under ``memory_only``: the gateway asks again off the loop)."""
        if _CLIENT_KEY_ID.fullmatch(client_key_id) is None:
            raise ClientKeyRefused
        entry = self._keys.get(client_key_id)
        if entry is None:
            if self._unknown.get(client_key_id):
                raise ClientKeyRefused
            since = self._unknown.generation
            entry = self._keys.get_or_load(client_key_id, self._load_key)
            if entry is None:
                self._unknown.put_since(client_key_id, True, since)
                raise ClientKeyRefused
        moment = now.timestamp()
        if not entry.not_before <= moment <= entry.not_after:
            raise ClientKeyRefused
        return entry.subject

    def _load_key(self, key_id: str) -> _LiveKey | None:
        keys = t.aap_client_keys.c
        with self._db.read() as conn:
            row = conn.execute(
                select(
                    keys.account_id,
                    keys.aap_name,
                    keys.certificate,
                    keys.not_before,
                    keys.not_after,
                ).where(keys.id == key_id)
            ).first()
        if row is None:
            return None
        public = x509.load_der_x509_certificate(bytes(row.certificate)).public_key()
        if not isinstance(public, RSAPublicKey):
            return None
        subject = ClientKeySubject(key_id, row.account_id, row.aap_name, public)
        return _LiveKey(subject, int(row.not_before), int(row.not_after))

    # -- authorization ---------------------------------------------------------------------

    def authorize(
        self,
        subject: ClientKeySubject,
        permission: Permission,
        resources: Sequence[str],
        instance_id: str,
        peer_ip: str,
    ) -> None:
        """Return if some policy of the subject's AAP grants ``permission`` on one of
        ``resources`` in ``instance_id`` and admits ``peer_ip``; else ``AccessDenied``."""
        peer = _peer(peer_ip)
        if peer is None or permission not in _KINDS:
            raise AccessDenied
        aap = self._aaps.get_or_load((subject.account_id, subject.aap_name), self._load_aap)
        if aap is not None:
            for policy in aap.policies:
                if policy.grants(permission, resources, instance_id) and policy.admits(peer):
                    return
        raise AccessDenied

    def authorize_any(
        self,
        subject: ClientKeySubject,
        permission: Permission,
        instance_id: str | None,
        peer_ip: str,
    ) -> str:
        """The instance of the first policy granting ``permission`` on some resource (in
        ``instance_id`` if given) to ``peer_ip``; else ``AccessDenied``."""
        peer = _peer(peer_ip)
        if peer is None or permission not in _KINDS:
            raise AccessDenied
        aap = self._aaps.get_or_load((subject.account_id, subject.aap_name), self._load_aap)
        if aap is not None:
            for policy in aap.policies:
                if policy.grants_some(permission, instance_id) and policy.admits(peer):
                    return policy.instance
        raise AccessDenied

    def screen(
        self,
        subject: ClientKeySubject,
        permission: Permission,
        names: Sequence[str],
        instance_id: str | None,
        peer_ip: str,
    ) -> str:
        """The instance of the first policy that covers one of ``names`` as the request gave
        them (``_Policy.covers``), in ``instance_id`` if given, and admits ``peer_ip``; else
        ``AccessDenied``. Decided from memory before anything is resolved, so a caller with no
        such policy learns nothing about what exists."""
        peer = _peer(peer_ip)
        if peer is None or permission not in _KINDS:
            raise AccessDenied
        aap = self._aaps.get_or_load((subject.account_id, subject.aap_name), self._load_aap)
        if aap is not None:
            for policy in aap.policies:
                if policy.covers(permission, names, instance_id) and policy.admits(peer):
                    return policy.instance
        raise AccessDenied

    def _load_aap(self, key: tuple[str, str]) -> _Aap | None:
        account, name = key
        links = t.aap_access_point_policies.c
        policies = t.aap_policies.c
        with self._db.read() as conn:
            rows = conn.execute(
                select(t.aap_policies)
                .join(
                    t.aap_access_point_policies,
                    (links.account_id == policies.account_id)
                    & (links.policy_name == policies.name),
                )
                .where(links.account_id == account, links.aap_name == name)
            ).all()
            rules = rules_of(conn, account, [r.name for r in rows])
            sources: dict[str, tuple[Network, ...]] = {}
            wanted = sorted({rule for names in rules.values() for rule in names})
            if wanted:
                found = conn.execute(
                    select(t.aap_network_rules.c.name, t.aap_network_rules.c.sources).where(
                        t.aap_network_rules.c.account_id == account,
                        t.aap_network_rules.c.name.in_(wanted),
                    )
                ).all()
                sources = {r.name: tuple(network(e) for e in json.loads(r.sources)) for r in found}
        compiled = tuple(
            _Policy(
                frozenset(json.loads(r.permissions)),
                frozenset(json.loads(r.resources)),
                r.kms_instance,
                tuple(net for rule in rules[r.name] for net in sources.get(rule, ())),
            )
            for r in rows
        )
        return _Aap(account, compiled)
