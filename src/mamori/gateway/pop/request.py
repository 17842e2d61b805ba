"""The request value the signature layer reads, built from what ASGI hands over."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

_FORM = "application/x-www-form-urlencoded"


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
        header_map[name] = value if previous is None else f"{previous},{value}"
    form: list[tuple[str, str]] = []
    content_type = header_map.get("content-type", "")
    if body and content_type[: len(_FORM)].lower() == _FORM:
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return PopRequest(
        method=method,
        path=path,
        raw_query=query_text,
        headers=header_map,
        body=body,
        query=parse_qsl(query_text, keep_blank_values=True) if query_text else [],
        form=form,
    )
