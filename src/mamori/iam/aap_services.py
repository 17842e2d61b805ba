"""The AAP services, built together: they share one invalidation topic (``aap``), published by
each after a committed change, which the decision's caches (``AapAuthority``) follow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mamori.core.invalidation import Invalidations
from mamori.iam.aap_authority import AapAuthority
from mamori.iam.aap_policies import AapPolicies, InstanceExists
from mamori.iam.access_points import AccessPoints
from mamori.iam.client_keys import ClientKeys
from mamori.iam.network_rules import NetworkRules
from mamori.store.database import Database


@dataclass(frozen=True, slots=True)
class AapServices:
    """Network rules, AAP policies, AAPs, client keys, and the decision over them."""

    rules: NetworkRules
    policies: AapPolicies
    points: AccessPoints
    client_keys: ClientKeys
    authority: AapAuthority


def build_aap(
    db: Database,
    clock: Callable[[], float],
    cache_size: int,
    bus: Invalidations,
    instance_exists: InstanceExists,
) -> AapServices:
    """Wire the AAP services to one store, clock and bus."""
    authority = AapAuthority(db, cache_size, bus)
    changed = authority.changed
    return AapServices(
        rules=NetworkRules(db, clock, changed),
        policies=AapPolicies(db, clock, changed, instance_exists),
        points=AccessPoints(db, clock, changed),
        client_keys=ClientKeys(db, clock, changed),
        authority=authority,
    )
