"""Where every gateway reports its requests: ``admit`` before acting, ``intend`` before a
state-changing action's handler runs, ``finish`` before answering (docs/audit.md).

``finish`` counts the request in the metrics and, unless the audit log is off, appends its
record and waits until the record is durable; only then may the gateway send the response.
Once the audit log has failed, ``admit`` refuses every request before it does anything
(``Rejected.AuditUnavailable``, 503). The request whose record meets the failure has
already acted, unless it waited for its intent record first: every action not marked
``read_only`` in the catalogue does (``intend``), so one that changes state either has a
durable intent record or did nothing.
"""

from __future__ import annotations

from mamori.api.errors import ApiError
from mamori.audit import AuditLog, AuditUnavailable, Encoder, Event
from mamori.gateway.asgi import ASGIScope
from mamori.gateway.metrics import Metrics


class Trail:
    """The audit log (None when ``audit = "off"``) and the metrics of one worker."""

    def __init__(self, audit: AuditLog | None, encoder: Encoder, metrics: Metrics | None) -> None:
        self._audit = audit
        self._encoder = encoder
        self._metrics = metrics

    @property
    def failure(self) -> str | None:
        """Why the audit log refuses records; None while it accepts them (or is off)."""
        return self._audit.failure if self._audit is not None else None

    def begin(self, gateway: str, scope: ASGIScope, request_id: str) -> Event:
        """The event of a request as its connection describes it."""
        client = scope.get("client")
        return Event(
            gateway, request_id, client[0] if client else "", scope.get("scheme") == "https"
        )

    def admit(self) -> None:
        """Refuse the request before it acts when its record could not be written."""
        if self._audit is not None and self._audit.failure is not None:
            raise ApiError("Rejected.AuditUnavailable")

    async def intend(self, event: Event) -> None:
        """Before a state-changing action's handler runs: make its intent record durable, or
        raise ``ApiError`` (``Rejected.AuditUnavailable``) so that it does nothing. Its outcome
        record still follows (``finish``), whether it acted or not."""
        if self._audit is not None:
            await self._durable(self._audit, event, self._encoder.intent(event))

    async def finish(self, event: Event) -> None:
        """Count the request and make its record durable; raises ``ApiError``
        (``Rejected.AuditUnavailable``) when the record cannot be written."""
        try:
            if self._audit is not None:
                await self._durable(self._audit, event, self._encoder.body(event))
        finally:
            self._count(event)

    @staticmethod
    async def _durable(audit: AuditLog, event: Event, body: str) -> None:
        """Append ``body`` and wait until it is durable; a record that cannot be made so
        refuses the request (and says so in ``event``)."""
        try:
            await audit.append(body)
        except AuditUnavailable:
            event.code, event.status = "Rejected.AuditUnavailable", 503
            raise ApiError("Rejected.AuditUnavailable") from None

    def _count(self, event: Event) -> None:
        if self._metrics is not None:
            self._metrics.request(
                event.gateway, event.action or "-", event.code, event.latency_seconds()
            )
