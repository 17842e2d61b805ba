"""The request value the signature layer reads, built from what ASGI hands over."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Final
from urllib.parse import parse_qsl

from mamori.api.errors import ApiError, invalid
from mamori.gateway.pop.canonical import read_canonical_query

_FORM = "application/x-www-form-urlencoded"
_NOT_A_FORM = f"Parameters are read from the query, and from a body only when it is {_FORM}."
# Headers Mamori reads a meaning from: a second copy would be joined to the first with ',' and
# so read as something no client signed; refused rather than guessed at.
_SINGLE: Final = frozenset({"authorization", "content-type", "host"})


@dataclass(slots=True)
class PopRequest:
    """One HTTP request to the shared gateway, as received."""

    method: str  # "POST" / "GET"
    path: str  # "/"
    raw_query: str  # query string exactly as received, undecoded
    headers: dict[str, str]  # lower-cased header names -> value
    body: bytes
    query: list[tuple[str, str]]  # form-decoded query pairs ('+' -> space), in arrival order
    form: list[tuple[str, str]]  # form-decoded body pairs for a form content-type, else []
    params: dict[str, str]  # query and form together; every name appears once
    # canonical_query(query) when it could be built from the raw bytes, else None
    canonical_query: str | None = None
    # A body that is not a form, which nothing reads: refused after the signature is checked.
    foreign_body: bool = False


def refuse_foreign_body(req: PopRequest) -> None:
    """Raise ``InvalidParameter`` when ``req`` has a body that is not a form."""
    if req.foreign_body:
        raise invalid("Content-Type", _NOT_A_FORM)


def parse_pop_request(
    method: str,
    path: str,
    raw_query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> PopRequest:
    """Build a ``PopRequest`` from ASGI's raw query, raw header pairs and body."""
    # A query string is ASCII on the wire; 'replace' turns stray bytes into U+FFFD, which then
    # simply fails the signature instead of raising deep inside canonicalisation.
    query_text = raw_query.decode("utf-8", "replace")
    header_map: dict[str, str] = {}
    for raw_name, raw_value in headers:
        # HTTP header bytes are latin-1 by definition; the SDK signs the same code points.
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        previous = header_map.get(name)
        if previous is None:
            header_map[name] = value
        elif name in _SINGLE or name.startswith("x-acs-"):
            raise ApiError("IncompleteSignature", detail=f"The header {name} appears twice.")
        else:
            header_map[name] = f"{previous},{value}"
    form: list[tuple[str, str]] = []
    foreign_body = False
    if body:
        content_type = header_map.get("content-type", "")
        if content_type[: len(_FORM)].lower() == _FORM:
            form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        else:
            # Any other body (JSON, as the SDK's generic call sends with req_body_type="json")
            # is never read: its parameters, an EncryptionContext say, would be dropped
            # without a word. Refused, once the signature has been checked.
            foreign_body = True
    canonical = read_canonical_query(raw_query)
    if canonical is not None:
        query, canonical_text = canonical
    else:
        query = parse_qsl(query_text, keep_blank_values=True) if query_text else []
        canonical_text = None
    params = dict(query)
    if form:
        params.update(form)
    if len(params) != len(query) + len(form):
        # Last-wins would pick a value the signature may not cover (a form value under ACS3).
        raise invalid(_repeated(chain(query, form))[:64], "It is given more than once.")
    return PopRequest(
        method=method,
        path=path,
        raw_query=query_text,
        headers=header_map,
        body=body,
        query=query,
        form=form,
        params=params,
        canonical_query=canonical_text,
        foreign_body=foreign_body,
    )


def _repeated(pairs: chain[tuple[str, str]]) -> str:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            return name
        seen.add(name)
    raise AssertionError("no name is repeated")
