"""Every security header of the console, built in one place (as warehouse's ``csp.py``).

The policy allows this origin's vendored files and nothing else: no inline script or style, no
eval (htmx runs with ``allowEval`` off), no frames, forms that post only back here.
"""

from __future__ import annotations

from typing import Final

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

_COMMON: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on the
    # console's own form posts, and the Origin is what tells them from another site's where
    # browsers send no Sec-Fetch-Site (plain HTTP to a host that is not localhost). Nothing is
    # sent to other origins, and the console links to none.
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
# Pages may show a secret value or a key policy: no cache, shared or private, keeps them.
_PAGE: Final = ((b"cache-control", b"no-store"),)
_STATIC: Final = ((b"cache-control", b"public, max-age=3600"),)
# Browsers that reached the console over TLS keep to TLS for it (never sent on plain HTTP).
_HSTS: Final = ((b"strict-transport-security", b"max-age=31536000"),)


def security_headers(*, static: bool, secure: bool) -> list[tuple[bytes, bytes]]:
    """The headers every console response carries."""
    headers = [*_COMMON, *(_STATIC if static else _PAGE)]
    if secure:
        headers.extend(_HSTS)
    return headers
