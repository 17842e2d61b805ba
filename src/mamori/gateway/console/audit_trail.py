"""The audit trail (read only): the newest request records of this node's chains, filtered as
``mamori audit search`` filters them (``mamori.audit.query``)."""

from __future__ import annotations

import logging
from typing import Any, Final

from mamori.api.errors import ApiError, invalid
from mamori.audit.chain import NotPlain
from mamori.audit.query import Query, shown_result, tail, time_bound
from mamori.gateway.console.http import Response
from mamori.gateway.console.pages import READ_AUDIT_TRAIL, Page, may_read_audit, route

log = logging.getLogger("mamori.console")

SHOWN: Final = 100
# Each filter's query parameter, and its longest accepted value (an ARN, a secret name).
FILTERS: Final = ("action", "principal", "key", "secret", "since", "until")
MAX_FILTER: Final = 256


def audit_trail(page: Page) -> Response:
    """GET /audit: the newest matching records first, at most ``SHOWN``."""
    if not may_read_audit(page.caller):
        raise ApiError(
            "Forbidden.NoPermission",
            action=READ_AUDIT_TRAIL,
            reason="It is not allowed on the account's audit trail.",
        )
    chosen = {name: page.request.query.get(name, "").strip() for name in FILTERS}
    shown: dict[str, Any] = {
        "chosen": chosen,
        "shown": SHOWN,
        "off": page.audit_dir is None,
        "error": None,
    }
    if page.audit_dir is None:
        return page.render("audit.html", rows=[], **shown)
    try:
        query = _query(chosen)
    except ApiError as exc:
        # The filters stay on the page, with what was wrong with them.
        return page.render("audit.html", exc.status, rows=[], **{**shown, "error": exc})
    try:
        newest = tail(page.audit_dir, SHOWN, query)
    except NotPlain as exc:
        # A chain or segment that is a link or a special file (mamori audit verify names it):
        # the page says the trail can't be read; the server log says where.
        log.error("the console's audit page cannot read the audit trail: %s", exc)
        failure = ApiError("InternalFailure")
        return page.render("audit.html", failure.status, rows=[], **{**shown, "error": failure})
    rows = [{**row, "result": shown_result(row)} for row in reversed(newest)]
    return page.render("audit.html", rows=rows, **shown)


def _query(chosen: dict[str, str]) -> Query:
    for name, value in chosen.items():
        if len(value) > MAX_FILTER:
            raise invalid(name, f"It is longer than {MAX_FILTER} characters.")
    bounds: dict[str, str | None] = {}
    for name in ("since", "until"):
        try:
            bounds[name] = time_bound(chosen[name]) if chosen[name] else None
        except ValueError:
            raise invalid(name, "It takes an ISO 8601 time, e.g. 2026-12-04T08:00Z.") from None
    return Query(
        key=chosen["key"] or None,
        secret=chosen["secret"] or None,
        principal=chosen["principal"] or None,
        action=chosen["action"] or None,
        since=bounds["since"],
        until=bounds["until"],
    )


ROUTES: Final = (route("GET", "/audit", audit_trail),)
