"""What a view gets (``Page``), how it answers (``render``), and how views are routed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from mamori.api.errors import ApiError
from mamori.gateway.console.calls import Caller
from mamori.gateway.console.http import Request, Response
from mamori.gateway.console.mount import PREFIX
from mamori.gateway.console.reveal import RevealAudit
from mamori.gateway.console.sessions import Session


def environment() -> jinja2.Environment:
    """The templates, autoescaped everywhere (a key's description or a policy document is
    whatever a caller wrote), and strict about names a template misspells."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mamori.gateway.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True, slots=True)
class Page:
    """One signed-in request, as a view sees it."""

    request: Request
    session: Session
    caller: Caller
    templates: jinja2.Environment
    reveals: RevealAudit
    # Where the audit chains are; None when the audit log is off.
    audit_dir: Path | None = None

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """The template inside the signed-in layout (a bare fragment for ``_``-named ones)."""
        flash, self.session.flash = self.session.flash, ""
        may = self.caller.may
        nav = {
            "keys": may("kms", "ListKeys"),
            "secrets": may("kms", "ListSecrets"),
            "ram": may("ram", "ListUsers"),
            "instances": may("kms", "ListKmsInstances"),
            "audit": may_read_audit(self.caller),
        }
        body = self.templates.get_template(template).render(
            prefix=PREFIX,
            csrf=self.session.csrf_token,
            principal=self.caller.principal.arn,
            nav=nav,
            flash=flash,
            **context,
        )
        return Response(status, body.encode())

    def failed(self, exc: ApiError) -> Response:
        """The API's refusal, shown readably with the API's status."""
        return self.render("error.html", exc.status, code=exc.code, message=exc.message)

    def done(self, message: str, location: str) -> Response:
        """After a change: remember ``message`` for the next page and go to ``location``."""
        self.session.flash = message
        return Response(303, headers=[(b"location", location.encode())])

    def form(self, name: str, default: str = "") -> str:
        """A form field, stripped of surrounding blanks."""
        return self.request.form.get(name, default).strip()


# Reading the audit trail is no API action: a RAM action of Mamori's own, on the account.
READ_AUDIT_TRAIL = "mamori:ReadAuditTrail"


def audit_trail_arn(caller: Caller) -> str:
    """``acs:mamori:<region>:<account>:*``: the account, as the audit trail's resource."""
    return f"acs:mamori:{caller.scope.region}:{caller.scope.account_id}:*"


def may_read_audit(caller: Caller) -> bool:
    """The administrator, or a principal allowed ``mamori:ReadAuditTrail`` on the account."""
    return caller.allowed(READ_AUDIT_TRAIL, audit_trail_arn(caller))


View = Callable[..., Response]


@dataclass(frozen=True, slots=True)
class Route:
    """``method`` and a path pattern under ``/console`` (named groups are the view's arguments)."""

    method: str
    pattern: re.Pattern[str]
    view: View


def route(method: str, path: str, view: View) -> Route:
    """A route for ``path``; a ``{name}`` placeholder matches a key id or a RAM name (never a
    ``/``: secret names, which may hold one, travel as a parameter instead)."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[A-Za-z0-9._@+=-]{1,192})", path)
    return Route(method, re.compile(rf"{re.escape(PREFIX)}{regex}"), view)
