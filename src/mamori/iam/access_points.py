"""Application access points (AAPs): a name, an authentication method (``ClientKey``, the only
one Alibaba offers for KMS instances) and up to three policies. An AAP's client keys are
deleted with it: Alibaba lets an AAP in use be deleted ("related applications cannot access
KMS"), and a client key without its AAP could authorize nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from mamori.core.errors import InvalidInput
from mamori.iam.aap_names import (
    AUTHENTICATION_METHOD,
    MAX_POLICIES_PER_AAP,
    AapNotFound,
    check_name,
    check_names,
    json_list,
)
from mamori.iam.aap_rows import claim_name, named
from mamori.store import schema as t
from mamori.store.database import Database


def _named(account: str, name: str) -> Any:
    return named(t.aap_access_points, account, name)


@dataclass(frozen=True, slots=True)
class AccessPoint:
    """One AAP."""

    account_id: str
    name: str
    description: str
    authentication_method: str
    policies: tuple[str, ...]
    created_at: int
    updated_at: int

    @property
    def policies_json(self) -> str:
        """``Policies`` as the API shows it."""
        return json_list(self.policies)


def policies_of(conn: Connection, account: str, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The policies each named AAP names, in the order given."""
    links = t.aap_access_point_policies.c
    rows = conn.execute(
        select(links.aap_name, links.policy_name)
        .where(links.account_id == account, links.aap_name.in_(list(names)))
        .order_by(links.aap_name, links.position)
    ).all()
    found: dict[str, list[str]] = {name: [] for name in names}
    for row in rows:
        found[row.aap_name].append(row.policy_name)
    return {name: tuple(policies) for name, policies in found.items()}


def _check_policies_exist(conn: Connection, account: str, names: Sequence[str]) -> None:
    found = set(
        conn.execute(
            select(t.aap_policies.c.name)
            .where(t.aap_policies.c.account_id == account, t.aap_policies.c.name.in_(list(names)))
            .with_for_update()
        ).scalars()
    )
    missing = [n for n in names if n not in found]
    if missing:
        raise InvalidInput("Policies", f"No policy is named {missing[0]}.")


def _link(conn: Connection, account: str, aap: str, policies: Sequence[str]) -> None:
    links = t.aap_access_point_policies
    conn.execute(delete(links).where(links.c.account_id == account, links.c.aap_name == aap))
    conn.execute(
        insert(links),
        [
            {"account_id": account, "aap_name": aap, "policy_name": p, "position": i}
            for i, p in enumerate(policies)
        ],
    )


def _check_policies(policies: Sequence[str]) -> tuple[str, ...]:
    if not policies:
        raise InvalidInput("Policies", "It must name at least one policy.")
    return check_names("Policies", policies, MAX_POLICIES_PER_AAP)


class AccessPoints:
    """Create/Describe/List/Update/DeleteApplicationAccessPoint. ``changed(account)`` runs
    after every committed change."""

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
        policies: Sequence[str],
        authentication_method: str | None = None,
        description: str = "",
    ) -> AccessPoint:
        """A new AAP naming existing policies."""
        check_name("Name", name)
        method = authentication_method or AUTHENTICATION_METHOD
        if method != AUTHENTICATION_METHOD:
            raise InvalidInput("AuthenticationMethod", f"It must be {AUTHENTICATION_METHOD}.")
        chosen = _check_policies(policies)
        now = int(self._clock())
        with self._db.begin() as conn:
            claim_name(conn, t.aap_access_points, account, name, "application access points")
            _check_policies_exist(conn, account, chosen)
            conn.execute(
                insert(t.aap_access_points).values(
                    account_id=account,
                    name=name,
                    description=description,
                    authentication_method=method,
                    created_at=now,
                    updated_at=now,
                )
            )
            _link(conn, account, name, chosen)
        self._changed(account)
        return AccessPoint(account, name, description, method, chosen, now, now)

    def describe(self, account: str, name: str) -> AccessPoint:
        """The AAP, else ``AapNotFound``."""
        with self._db.read() as conn:
            row = conn.execute(select(t.aap_access_points).where(_named(account, name))).first()
            if row is None:
                raise AapNotFound
            policies = policies_of(conn, account, [name])[name]
        return AccessPoint(
            row.account_id,
            row.name,
            row.description,
            row.authentication_method,
            policies,
            row.created_at,
            row.updated_at,
        )

    def exists(self, account: str, name: str) -> bool:
        """Whether the AAP exists."""
        with self._db.read() as conn:
            return (
                conn.execute(
                    select(t.aap_access_points.c.name).where(_named(account, name))
                ).first()
                is not None
            )

    def page(self, account: str, offset: int, limit: int) -> tuple[list[AccessPoint], int]:
        """One page of the account's AAPs by name (without their policies), and the total."""
        points = t.aap_access_points
        with self._db.read() as conn:
            total = conn.execute(
                select(func.count()).select_from(points).where(points.c.account_id == account)
            ).scalar_one()
            rows = conn.execute(
                select(points)
                .where(points.c.account_id == account)
                .order_by(points.c.name)
                .offset(offset)
                .limit(limit)
            ).all()
        found = [
            AccessPoint(
                r.account_id,
                r.name,
                r.description,
                r.authentication_method,
                (),
                r.created_at,
                r.updated_at,
            )
            for r in rows
        ]
        return found, int(total)

    def update(
        self,
        account: str,
        name: str,
        policies: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        """Replace the policies and/or the description."""
        chosen = None if policies is None else _check_policies(policies)
        values: dict[str, Any] = {"updated_at": int(self._clock())}
        if description is not None:
            values["description"] = description
        with self._db.begin() as conn:
            found = conn.execute(
                select(t.aap_access_points.c.name).where(_named(account, name)).with_for_update()
            ).first()
            if found is None:
                raise AapNotFound
            if chosen is not None:
                _check_policies_exist(conn, account, chosen)
                _link(conn, account, name, chosen)
            conn.execute(update(t.aap_access_points).where(_named(account, name)).values(values))
        self._changed(account)

    def delete(self, account: str, name: str) -> None:
        """Delete the AAP, its policy links and its client keys."""
        with self._db.begin() as conn:
            found = conn.execute(
                select(t.aap_access_points.c.name).where(_named(account, name)).with_for_update()
            ).first()
            if found is None:
                raise AapNotFound
            keys = t.aap_client_keys.c
            conn.execute(
                delete(t.aap_client_keys).where(keys.account_id == account, keys.aap_name == name)
            )
            conn.execute(delete(t.aap_access_points).where(_named(account, name)))
        self._changed(account)
