"""AAP policies (the KMS API's 2016-01-20 ``CreatePolicy``, not RAM's): which RBAC templates,
on which keys and secrets, in which KMS instance, from which network rules.

A policy's ``KmsInstance`` is checked for its syntax here; whether the instance exists in the
account is asked of ``instance_exists`` (``app.py`` wires the instances resource's in-memory
lookup).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from mamori.core.errors import InvalidInput
from mamori.iam.aap_names import (
    MAX_RULES_PER_POLICY,
    SHARED_SCOPE,
    AapNotFound,
    check_instance,
    check_name,
    check_names,
    check_permissions,
    check_resources,
    json_list,
)
from mamori.iam.aap_rows import claim_name, named, refuse_if_named
from mamori.store import schema as t
from mamori.store.database import Database


def _named(account: str, name: str) -> Any:
    return named(t.aap_policies, account, name)


InstanceExists = Callable[[str, str], bool]
"""(account id, instance id) → whether that KMS instance exists in the account."""


@dataclass(frozen=True, slots=True)
class AapPolicy:
    """One AAP policy."""

    account_id: str
    name: str
    description: str
    kms_instance: str
    permissions: tuple[str, ...]
    resources: tuple[str, ...]
    network_rules: tuple[str, ...]
    created_at: int
    updated_at: int

    @property
    def access_control_rules(self) -> str:
        """``AccessControlRules`` as the API shows it."""
        return json.dumps(
            {"NetworkRules": list(self.network_rules)}, separators=(",", ":"), ensure_ascii=False
        )


def rules_of(conn: Connection, account: str, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The network rules each named policy names, in the order given."""
    links = t.aap_policy_rules.c
    rows = conn.execute(
        select(links.policy_name, links.rule_name)
        .where(links.account_id == account, links.policy_name.in_(list(names)))
        .order_by(links.policy_name, links.position)
    ).all()
    found: dict[str, list[str]] = {name: [] for name in names}
    for row in rows:
        found[row.policy_name].append(row.rule_name)
    return {name: tuple(rules) for name, rules in found.items()}


def policy_from(row: Any, rules: tuple[str, ...]) -> AapPolicy:
    """An ``AapPolicy`` from its row and its rules."""
    return AapPolicy(
        row.account_id,
        row.name,
        row.description,
        row.kms_instance,
        tuple(json.loads(row.permissions)),
        tuple(json.loads(row.resources)),
        rules,
        row.created_at,
        row.updated_at,
    )


def _check_rules_exist(conn: Connection, account: str, rules: Sequence[str]) -> None:
    if not rules:
        return
    found = set(
        conn.execute(
            select(t.aap_network_rules.c.name)
            .where(
                t.aap_network_rules.c.account_id == account,
                t.aap_network_rules.c.name.in_(list(rules)),
            )
            .with_for_update()
        ).scalars()
    )
    missing = [r for r in rules if r not in found]
    if missing:
        raise InvalidInput("AccessControlRules", f"No network rule is named {missing[0]}.")


def _link_rules(conn: Connection, account: str, policy: str, rules: Sequence[str]) -> None:
    conn.execute(
        delete(t.aap_policy_rules).where(
            t.aap_policy_rules.c.account_id == account, t.aap_policy_rules.c.policy_name == policy
        )
    )
    if rules:
        conn.execute(
            insert(t.aap_policy_rules),
            [
                {"account_id": account, "policy_name": policy, "rule_name": r, "position": i}
                for i, r in enumerate(rules)
            ],
        )


class AapPolicies:
    """CreatePolicy, DescribePolicy, ListPolicies, UpdatePolicy, DeletePolicy (2016-01-20).
    ``changed(account)`` runs after every committed change."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], float],
        changed: Callable[[str], None],
        instance_exists: InstanceExists,
    ) -> None:
        self._db = db
        self._clock = clock
        self._changed = changed
        self._instance_exists = instance_exists

    def create(
        self,
        account: str,
        name: str,
        kms_instance: str,
        permissions: Sequence[str],
        resources: Sequence[str],
        network_rules: Sequence[str],
        description: str = "",
    ) -> AapPolicy:
        """A new policy: every rule it names must exist."""
        check_name("Name", name)
        check_instance(kms_instance)
        perms = check_permissions(permissions)
        res = check_resources(resources)
        rules = check_names("AccessControlRules", network_rules, MAX_RULES_PER_POLICY)
        if kms_instance != SHARED_SCOPE and not self._instance_exists(account, kms_instance):
            raise InvalidInput("KmsInstance", "No KMS instance has this id.")
        now = int(self._clock())
        with self._db.begin() as conn:
            claim_name(conn, t.aap_policies, account, name, "policies")
            _check_rules_exist(conn, account, rules)
            conn.execute(
                insert(t.aap_policies).values(
                    account_id=account,
                    name=name,
                    description=description,
                    kms_instance=kms_instance,
                    permissions=json_list(perms),
                    resources=json_list(res),
                    created_at=now,
                    updated_at=now,
                )
            )
            _link_rules(conn, account, name, rules)
        self._changed(account)
        return AapPolicy(account, name, description, kms_instance, perms, res, rules, now, now)

    def describe(self, account: str, name: str) -> AapPolicy:
        """The policy, else ``AapNotFound``."""
        with self._db.read() as conn:
            row = conn.execute(select(t.aap_policies).where(_named(account, name))).first()
            if row is None:
                raise AapNotFound
            return policy_from(row, rules_of(conn, account, [name])[name])

    def page(self, account: str, offset: int, limit: int) -> tuple[list[str], int]:
        """One page of the account's policy names, and how many there are."""
        policies = t.aap_policies.c
        with self._db.read() as conn:
            total = conn.execute(
                select(func.count())
                .select_from(t.aap_policies)
                .where(policies.account_id == account)
            ).scalar_one()
            names = (
                conn.execute(
                    select(policies.name)
                    .where(policies.account_id == account)
                    .order_by(policies.name)
                    .offset(offset)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
        return list(names), int(total)

    def update(
        self,
        account: str,
        name: str,
        *,
        permissions: Sequence[str] | None = None,
        resources: Sequence[str] | None = None,
        network_rules: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        """Replace what is given; the name and the KMS instance never change."""
        values: dict[str, Any] = {"updated_at": int(self._clock())}
        if permissions is not None:
            values["permissions"] = json_list(check_permissions(permissions))
        if resources is not None:
            values["resources"] = json_list(check_resources(resources))
        rules = (
            None
            if network_rules is None
            else check_names("AccessControlRules", network_rules, MAX_RULES_PER_POLICY)
        )
        if description is not None:
            values["description"] = description
        with self._db.begin() as conn:
            found = conn.execute(
                select(t.aap_policies.c.name).where(_named(account, name)).with_for_update()
            ).first()
            if found is None:
                raise AapNotFound
            if rules is not None:
                _check_rules_exist(conn, account, rules)
                _link_rules(conn, account, name, rules)
            conn.execute(update(t.aap_policies).where(_named(account, name)).values(values))
        self._changed(account)

    def delete(self, account: str, name: str) -> None:
        """Delete a policy no AAP names; its links to network rules go with it."""
        with self._db.begin() as conn:
            found = conn.execute(
                select(t.aap_policies.c.name).where(_named(account, name)).with_for_update()
            ).first()
            if found is None:
                raise AapNotFound
            links = t.aap_access_point_policies.c
            refuse_if_named(
                conn,
                links.policy_name,
                links.aap_name,
                account,
                name,
                "The policy is still attached to the AAP {}: detach it first.",
            )
            conn.execute(delete(t.aap_policies).where(_named(account, name)))
        self._changed(account)
