"""The console's one way to do anything: a catalogue action run as the signed-in principal.

A page never reaches a service directly; it names an action and its API parameters, exactly as
an SDK would, and ``invoke`` parses, authorizes and runs it. So the console can do nothing the
same principal could not do through the API, and refuses with the API's own codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mamori.api.catalogue import KMS_VERSION, RAM_VERSION, Action, Catalogue, Result, Services
from mamori.api.dispatch import execute, invoke, permitted, prepare
from mamori.api.errors import ApiError
from mamori.audit import Event
from mamori.core.refs import Scope
from mamori.iam.authorize import Origin
from mamori.iam.policy import Allow
from mamori.iam.principal import Principal

_VERSIONS = {"kms": KMS_VERSION, "ram": RAM_VERSION}


@dataclass(frozen=True, slots=True)
class Caller:
    """Runs actions for one principal, from one origin."""

    catalogue: Catalogue
    services: Services
    principal: Principal
    scope: Scope
    origin: Origin
    # The audit event of the request (a POST): it names the first action run and its outcome.
    event: Event | None = None
    # Makes the request's intent record durable, blocking this (executor) thread; raises
    # ``ApiError`` (``Rejected.AuditUnavailable``) when it cannot. None when nothing is recorded.
    intend: Callable[[], None] | None = None

    def run(self, product: str, name: str, **params: str) -> Result:
        """The action's result; raises ``ApiError`` as the API would answer."""
        # The record is the first action's: what a page reads afterwards to show the outcome
        # (a secret's versions after a reveal) is not what the request did.
        event = self.event if self.event is not None and self.event.params is None else None
        if event is not None:
            event.action, event.params = name, params
        action = self._action(product, name)
        try:
            if action.read_only:
                result = invoke(
                    action, self.principal, self.scope, self.services, params, self.origin
                )
            else:
                prepared = prepare(
                    action, self.principal, self.scope, self.services, params, self.origin
                )
                # Durable before the action acts; a console POST runs at most one action
                # that changes state, and it is the request's first (the one its event names).
                if self.intend is not None:
                    self.intend()
                result = execute(prepared)
        except ApiError as exc:
            if event is not None:
                event.code, event.status = exc.code, exc.status
            raise
        if event is not None:
            event.result = result
        return result

    def may(self, product: str, name: str, **params: str) -> bool:
        """Whether this principal would be allowed ``name`` with these parameters."""
        return permitted(
            self._action(product, name),
            self.principal,
            self.scope,
            self.services,
            params,
            self.origin,
        )

    def allowed(self, ram_action: str, resource: str) -> bool:
        """Whether the principal's policies allow ``ram_action`` on ``resource``: for what the
        console shows that no catalogue action serves (the audit trail, docs/console.md)."""
        decision = self.services.authorizer.authorize(
            self.principal, ram_action, resource, self.origin
        )
        return isinstance(decision, Allow)

    def _action(self, product: str, name: str) -> Action:
        action = self.catalogue.get(_VERSIONS[product], name)
        if action is None:
            # A console bug, never user input: the names are literals in the views.
            raise ApiError("InvalidAction.NotFound")
        return action
