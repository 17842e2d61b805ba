"""Network rules of AAP policies: the source addresses (IPs and CIDR blocks) a client key's
requests may come from. Type ``Private`` only, as Alibaba offers; IPv4 and IPv6.

``SourcePrivateIp`` is read by the API (``mamori.api.aap.common.SourceIps``). A block with
host bits set (``10.10.10.10/24``, as Alibaba's own examples write) is the block it lies in.
Rules are stored and shown as a JSON array of the entries as given.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from mamori.core.errors import InvalidInput
from mamori.iam.aap_names import (
    MAX_SOURCES_PER_RULE,
    NETWORK_TYPE,
    AapNotFound,
    check_name,
    json_list,
)
from mamori.iam.aap_rows import claim_name, named, refuse_if_named
from mamori.store import schema as t
from mamori.store.database import Database


def _named(account: str, name: str) -> Any:
    return named(t.aap_network_rules, account, name)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_ENTRY = 64  # the longest IPv6 CIDR spelling is 43 characters


def parse_sources(entries: Sequence[Any]) -> tuple[str, ...]:
    """Check every entry is an IP or a CIDR block; at least one, at most 800, none twice."""
    if not entries:
        raise InvalidInput("SourcePrivateIp", "It must name at least one IP or CIDR block.")
    if len(entries) > MAX_SOURCES_PER_RULE:
        raise InvalidInput("SourcePrivateIp", f"It names more than {MAX_SOURCES_PER_RULE}.")
    checked: list[str] = []
    for entry in entries:
        if not isinstance(entry, str) or not entry or len(entry) > _MAX_ENTRY:
            raise InvalidInput("SourcePrivateIp", "Each entry must be an IP or a CIDR block.")
        network(entry)
        checked.append(entry)
    if len(set(checked)) != len(checked):
        raise InvalidInput("SourcePrivateIp", "It names one entry twice.")
    return tuple(checked)


def network(entry: str) -> Network:
    """The block an entry names (an IP is a block of one)."""
    try:
        # strict=False: "10.10.10.10/24" is 10.10.10.0/24, as Alibaba's examples use it.
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise InvalidInput("SourcePrivateIp", "Each entry must be an IP or a CIDR block.") from None


@dataclass(frozen=True, slots=True)
class NetworkRule:
    """One network rule."""

    account_id: str
    name: str
    description: str
    sources: tuple[str, ...]
    created_at: int
    updated_at: int

    @property
    def sources_json(self) -> str:
        """``SourcePrivateIp`` as the API shows it."""
        return json_list(self.sources)


def _rule(row: Any) -> NetworkRule:
    return NetworkRule(
        row.account_id,
        row.name,
        row.description,
        tuple(json.loads(row.sources)),
        row.created_at,
        row.updated_at,
    )


def lock_rule(conn: Connection, account: str, name: str) -> NetworkRule:
    """The rule, its row locked for this transaction, else ``AapNotFound``."""
    row = conn.execute(
        select(t.aap_network_rules).where(_named(account, name)).with_for_update()
    ).first()
    if row is None:
        raise AapNotFound
    return _rule(row)


class NetworkRules:
    """CreateNetworkRule, DescribeNetworkRule, ListNetworkRules, UpdateNetworkRule,
    DeleteNetworkRule. ``changed(account)`` runs after every committed change."""

    def __init__(
        self, db: Database, clock: Callable[[], float], changed: Callable[[str], None]
    ) -> None:
        self._db = db
        self._clock = clock
        self._changed = changed

    def create(
        self,
        account: str,
        name: str,
        network_type: str,
        sources: Sequence[str],
        description: str = "",
    ) -> NetworkRule:
        """A new rule; the name must be free."""
        check_name("Name", name)
        if network_type != NETWORK_TYPE:
            raise InvalidInput("Type", f"It must be {NETWORK_TYPE}.")
        checked = parse_sources(sources)
        now = int(self._clock())
        with self._db.begin() as conn:
            claim_name(conn, t.aap_network_rules, account, name, "network rules")
            conn.execute(
                insert(t.aap_network_rules).values(
                    account_id=account,
                    name=name,
                    description=description,
                    sources=json_list(checked),
                    created_at=now,
                    updated_at=now,
                )
            )
        self._changed(account)
        return NetworkRule(account, name, description, checked, now, now)

    def describe(self, account: str, name: str) -> NetworkRule:
        """The rule, else ``AapNotFound``."""
        with self._db.read() as conn:
            row = conn.execute(select(t.aap_network_rules).where(_named(account, name))).first()
        if row is None:
            raise AapNotFound
        return _rule(row)

    def page(self, account: str, offset: int, limit: int) -> tuple[list[NetworkRule], int]:
        """One page of the account's rules by name, and how many there are."""
        rules = t.aap_network_rules
        with self._db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(rules).where(rules.c.account_id == account)
            ).scalar_one()
            rows = conn.execute(
                select(rules)
                .where(rules.c.account_id == account)
                .order_by(rules.c.name)
                .offset(offset)
                .limit(limit)
            ).all()
        return [_rule(r) for r in rows], int(total)

    def update(
        self,
        account: str,
        name: str,
        sources: Sequence[str] | None,
        description: str | None,
    ) -> None:
        """Replace the sources and/or the description (name and type never change)."""
        checked = None if sources is None else parse_sources(sources)
        values: dict[str, Any] = {"updated_at": int(self._clock())}
        if checked is not None:
            values["sources"] = json_list(checked)
        if description is not None:
            values["description"] = description
        with self._db.begin() as conn:
            lock_rule(conn, account, name)
            conn.execute(update(t.aap_network_rules).where(_named(account, name)).values(values))
        self._changed(account)

    def delete(self, account: str, name: str) -> None:
        """Delete a rule no policy names (Alibaba: "make sure it is not bound")."""
        with self._db.begin() as conn:
            lock_rule(conn, account, name)
            links = t.aap_policy_rules.c
            refuse_if_named(
                conn,
                links.rule_name,
                links.policy_name,
                account,
                name,
                "The network rule is still named by the policy {}: "
                "take it out of the policy first.",
            )
            conn.execute(delete(t.aap_network_rules).where(_named(account, name)))
        self._changed(account)
