"""Secrets: the list, a secret's versions and stages, and a value only on deliberate reveal.

A value is fetched only by a POST (so it needs the session's CSRF token, and no link, prefetch
or history entry can fetch it), recorded through the reveal hook before it is shown, and sent
with ``Cache-Control: no-store``. Secret names may hold ``/``, so they travel as a parameter.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlencode

from mamori.api.errors import ApiError
from mamori.gateway.console.http import Response
from mamori.gateway.console.mount import PREFIX
from mamori.gateway.console.pages import Page, route

PAGE_SIZE: Final = 20


def _at(name: str) -> str:
    return f"{PREFIX}/secret?{urlencode({'name': name})}"


def secret_list(page: Page) -> Response:
    """GET /secrets: ListSecrets, optionally by a name filter."""
    name = page.request.query.get("name", "").strip()
    params = {"PageNumber": page.request.query.get("page", "1"), "PageSize": str(PAGE_SIZE)}
    if name:
        params["Filters"] = json.dumps([{"Key": "SecretName", "Values": [name]}])
    listing = page.caller.run("kms", "ListSecrets", **params)
    total = int(listing["TotalCount"])
    return page.render(
        "secrets.html",
        rows=listing["SecretList"]["Secret"],
        name=name,
        page_number=int(listing["PageNumber"]),
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        may_create=page.caller.may(
            "kms", "CreateSecret", SecretName="x", SecretData="x", VersionId="v1"
        ),
    )


def secret_create(page: Page) -> Response:
    """POST /secrets: CreateSecret (a Generic secret) from the form."""
    params = {
        name: page.form(name)
        for name in ("SecretName", "VersionId", "Description", "EncryptionKeyId")
        if page.form(name)
    }
    # The value exactly as typed: blanks at its ends may be part of it.
    params["SecretData"] = page.request.form.get("SecretData", "")
    page.caller.run("kms", "CreateSecret", **params)
    return page.done(f"Created secret {params.get('SecretName', '')}.", _at(params["SecretName"]))


def _detail(page: Page, name: str, revealed: dict[str, Any] | None = None) -> Response:
    described = page.caller.run("kms", "DescribeSecret", SecretName=name)
    try:
        versions = page.caller.run(
            "kms",
            "ListSecretVersionIds",
            SecretName=name,
            IncludeDeprecated="true",
            PageSize="100",
        )["VersionIds"]["VersionId"]
    except ApiError:
        versions = None
    may = page.caller.may
    return page.render(
        "secret.html",
        secret=described,
        versions=versions,
        revealed=revealed,
        may={
            "reveal": may("kms", "GetSecretValue", SecretName=name),
            "put": may("kms", "PutSecretValue", SecretName=name, SecretData="x", VersionId="x"),
            "rotate": may("kms", "RotateSecret", SecretName=name, VersionId="x"),
            "delete": may("kms", "DeleteSecret", SecretName=name),
            "restore": may("kms", "RestoreSecret", SecretName=name),
        },
    )


def secret_detail(page: Page) -> Response:
    """GET /secret?name=…: the secret, its versions and stages; no value."""
    return _detail(page, page.request.query.get("name", ""))


def secret_reveal(page: Page) -> Response:
    """POST /secret/reveal: one version's value, recorded, then shown."""
    name, version_id = page.form("name"), page.form("VersionId")
    value = page.caller.run("kms", "GetSecretValue", SecretName=name, VersionId=version_id)
    page.reveals.secret_revealed(
        principal_arn=page.caller.principal.arn,
        secret_name=value["SecretName"],
        version_id=value["VersionId"],
        stages=list(value["VersionStages"]["VersionStage"]),
    )
    if page.request.htmx:
        body = page.templates.get_template("_secret_value.html").render(value=value)
        return Response(200, body.encode())
    return _detail(page, name, revealed=value)


def _change(action: str, done: str, *fields: str) -> Any:
    """A POST view running one secret action on the form's ``name``."""

    def view(page: Page) -> Response:
        name = page.form("name")
        params = {f: page.form(f) for f in fields if page.form(f)}
        if "SecretData" in fields:
            params["SecretData"] = page.request.form.get("SecretData", "")
        page.caller.run("kms", action, SecretName=name, **params)
        return page.done(done.format(name=name, **params), _at(name))

    return view


ROUTES: Final = (
    route("GET", "/secrets", secret_list),
    route("POST", "/secrets", secret_create),
    route("GET", "/secret", secret_detail),
    route("POST", "/secret/reveal", secret_reveal),
    route(
        "POST",
        "/secret/put",
        _change(
            "PutSecretValue", "Stored version {VersionId} of {name}.", "VersionId", "SecretData"
        ),
    ),
    route(
        "POST",
        "/secret/rotate",
        _change("RotateSecret", "Rotated {name} to version {VersionId}.", "VersionId"),
    ),
    route(
        "POST",
        "/secret/delete",
        _change("DeleteSecret", "Scheduled {name} for deletion.", "RecoveryWindowInDays"),
    ),
    route("POST", "/secret/restore", _change("RestoreSecret", "Restored {name}.")),
)
