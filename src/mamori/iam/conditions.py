"""The pieces of the RAM policy language below the statement: wildcard patterns, the request
context, and compiled ``Condition`` operators.

Semantics (those of AWS IAM, which Alibaba RAM follows):

- Under one operator, the values listed for one key are OR'ed; keys under one operator, and
  operators in one block, are AND'ed.
- A key absent from the request context makes a positive operator false and a negated one
  (``StringNotEquals``, ``StringNotEqualsIgnoreCase``, ``StringNotLike``, ``NumericNotEquals``,
  ``DateNotEquals``, ``NotIpAddress``) true, as AWS documents; any ``…IfExists`` operator is true.
- A negated operator with several values is NOR: true only if the context matches none of them.
- A context value that does not parse for the operator (``abc`` under ``NumericLessThan``) matches
  nothing, so positive operators are false and negated ones true: a request cannot satisfy a
  numeric bound with a value that is not a number.
- Condition key names are case-insensitive, tag and EncryptionContext names included; two tags
  differing only in case both count, which is why a lookup yields a list.
- Dates are ISO 8601 (no offset means UTC) or integer epoch seconds, compared to the
  microsecond. CIDRs may have host bits set (``10.1.2.3/8``), as people write the address they
  know; an IPv4-mapped IPv6 caller (``::ffff:10.0.0.1``) is matched as IPv4.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import eq, ge, gt, le, lt
from typing import Final

from mamori.core.errors import DomainError


class MalformedPolicy(DomainError):
    """The policy document cannot be accepted; ``reason`` says where and why."""

    code = "MalformedPolicyDocument"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason=reason)

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


# --- wildcards -------------------------------------------------------------------------------


def _segment(text: str) -> str:
    return "".join("." if c == "?" else re.escape(c) for c in text)


def translate(pattern: str) -> str:
    """The regular expression (for ``fullmatch``) of a ``*``/``?`` pattern."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return _segment(pattern)
    # Each inner segment takes its earliest occurrence inside an atomic group: for fixed-length
    # segments that choice is always safe, and it keeps matching linear in the input instead of
    # the polynomial backtracking `.*a.*b.*c` allows on long, attacker-chosen context values.
    inner = "".join(f"(?>.*?{_segment(p)})" for p in parts[1:-1] if p)
    return f"{_segment(parts[0])}{inner}.*{_segment(parts[-1])}"


class Wildcards:
    """A compiled set of ``*``/``?`` patterns; ``*`` spans any run, ``:`` and ``/`` included."""

    __slots__ = ("_any", "_exact", "_prefixes", "_regex", "patterns")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._any = "*" in self.patterns
        # Most patterns are literal or `prefix*`; set and startswith cover them without regex.
        self._exact = frozenset(p for p in self.patterns if "*" not in p and "?" not in p)
        prefixes, general = [], []
        for p in self.patterns:
            if p.endswith("*") and "*" not in p[:-1] and "?" not in p:
                prefixes.append(p[:-1])
            elif "*" in p or "?" in p:
                general.append(p)
        self._prefixes = tuple(prefixes)
        self._regex = (
            re.compile("(?s:" + "|".join(f"(?:{translate(p)})" for p in general) + ")")
            if general
            else None
        )

    def __call__(self, text: str) -> bool:
        """Whether ``text`` matches any of the patterns."""
        if self._any or text in self._exact:
            return True
        if self._prefixes and text.startswith(self._prefixes):
            return True
        return self._regex is not None and self._regex.fullmatch(text) is not None


def names_a_role(arn: str) -> bool:
    """Whether ``arn`` is a RAM role's ARN (``…:role/<name>``) or a role session's
    (``…:assumed-role/<name>/<session>``): role names are unique without regard to case."""
    return arn.startswith("acs:ram:") and (":role/" in arn or ":assumed-role/" in arn)


class ArnPatterns:
    """Resource or principal patterns: matched exactly, except that a role's or a role
    session's ARN matches without regard to case, as RAM matches role names. Sound because no
    two roles' names differ only in case; a session's name is its caller's free choice."""

    __slots__ = ("_exact", "_folded", "patterns")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._exact = Wildcards(self.patterns)
        self._folded = Wildcards(p.lower() for p in self.patterns)

    def __call__(self, arn: str) -> bool:
        """Whether ``arn`` matches any of the patterns."""
        return self._exact(arn) or (names_a_role(arn) and self._folded(arn.lower()))


# --- the request context ---------------------------------------------------------------------

_SOURCE_IP: Final = "acs:sourceip"
_CURRENT_TIME: Final = "acs:currenttime"
_SECURE_TRANSPORT: Final = "acs:securetransport"
_PRINCIPAL_ARN: Final = "acs:principalarn"
# What AssumeRole's caller says about itself, for trust policies (absent everywhere else).
_EXTERNAL_ID: Final = "sts:externalid"
_SOURCE_IDENTITY: Final = "sts:sourceidentity"
_TAG: Final = "kms:tag/"
_CONTEXT: Final = "kms:encryptioncontext/"

_KEY_SYNTAX: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*:[^\x00-\x1f\x7f]+")

Native = str | bool | datetime


def resolve_key(name: str) -> tuple[str, str] | None:
    """``(kind, sub-key)`` for a condition key name, both lower-case; None if not ``svc:name``."""
    if _KEY_SYNTAX.fullmatch(name) is None:
        return None
    folded = name.lower()
    for prefix in (_TAG, _CONTEXT):
        if folded.startswith(prefix):
            sub = folded[len(prefix) :]
            return (prefix, sub) if sub else None
    return folded, ""


def _pick(mapping: Mapping[str, str], sub: str) -> tuple[str, ...] | None:
    found = tuple(v for k, v in mapping.items() if k.lower() == sub)
    return found or None


def render(value: Native) -> str:
    """The string form string operators see: ``true``/``false``, ``…Z`` timestamps."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What conditions may test about one request; ``current_time`` must be timezone-aware."""

    source_ip: str
    current_time: datetime
    secure_transport: bool
    principal_arn: str
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    encryption_context: Mapping[str, str] = field(default_factory=dict)
    external_id: str | None = None
    source_identity: str | None = None

    def __post_init__(self) -> None:
        if self.current_time.tzinfo is None:
            raise ValueError("RequestContext.current_time must be timezone-aware")

    def native(self, kind: str, sub: str) -> tuple[Native, ...] | None:
        """The values of a resolved key, typed as the request holds them; None when absent."""
        getter = _GETTERS.get(kind)
        return None if getter is None else getter(self, sub)

    def lookup(self, key: str) -> list[str] | None:
        """The string values of condition key ``key`` (any case); None when absent."""
        resolved = resolve_key(key)
        values = self.native(*resolved) if resolved else None
        return None if values is None else [render(v) for v in values]


def _source_ip(ctx: RequestContext, _: str) -> tuple[Native, ...] | None:
    # An empty address means the transport had none (a Unix socket): the key is absent.
    return (ctx.source_ip,) if ctx.source_ip else None


def _current_time(ctx: RequestContext, _: str) -> tuple[Native, ...] | None:
    return (ctx.current_time,)


def _secure_transport(ctx: RequestContext, _: str) -> tuple[Native, ...] | None:
    return (ctx.secure_transport,)


_SESSION_ARN: Final = re.compile(r"(acs:ram:[^:]*:[^:]*:assumed-role/)([^/]+)(/.*)", re.DOTALL)


def _principal_arn(ctx: RequestContext, _: str) -> tuple[Native, ...] | None:
    # A role session's ARN names the role as it was created; conditions written against the
    # lower-cased role name (the ARN older Mamori versions gave) must keep matching it, so the
    # key holds both spellings (a negated operator is true only when neither matches).
    arn = ctx.principal_arn
    if not arn:
        return None
    session = _SESSION_ARN.fullmatch(arn)
    if session is None or session[2] == session[2].lower():
        return (arn,)
    return arn, f"{session[1]}{session[2].lower()}{session[3]}"


def _tag(ctx: RequestContext, sub: str) -> tuple[Native, ...] | None:
    return _pick(ctx.resource_tags, sub)


def _context(ctx: RequestContext, sub: str) -> tuple[Native, ...] | None:
    return _pick(ctx.encryption_context, sub)


def _external_id(ctx: RequestContext, _: str) -> tuple[Native, ...] | None:
    return None if ctx.external_id is None else (ctx.external_id,)


def _source_identity(ctx: RequestContext, _: str) -> tuple[Native, ...] | None:
    return None if ctx.source_identity is None else (ctx.source_identity,)


def _absent(ctx: RequestContext, sub: str) -> tuple[Native, ...] | None:
    return None


Getter = Callable[[RequestContext, str], "tuple[Native, ...] | None"]

# Resolved once per compiled condition, so a request pays one call, not a chain of compares.
_GETTERS: Final[dict[str, Getter]] = {
    _SOURCE_IP: _source_ip,
    _CURRENT_TIME: _current_time,
    _SECURE_TRANSPORT: _secure_transport,
    _PRINCIPAL_ARN: _principal_arn,
    _TAG: _tag,
    _CONTEXT: _context,
    _EXTERNAL_ID: _external_id,
    _SOURCE_IDENTITY: _source_identity,
}


# --- value parsing (policy side raises, context side yields None) ----------------------------

_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


@lru_cache(maxsize=4096)
def _number(text: str) -> Decimal | None:
    # Decimal() alone would accept "1_000", " 1 " and "NaN"; the regex admits plain numbers only.
    if _NUMBER.fullmatch(text) is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent too large for Decimal: "1e99999999999999999999"
        return None


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


@lru_cache(maxsize=4096)
def _date(text: str) -> int | None:
    if text.isascii() and text.isdigit():
        # Bounded so int() never meets its digit limit on a request's (attacker's) string.
        return int(text) * 1_000_000 if len(text) <= 20 else None
    try:
        return _micros(datetime.fromisoformat(text))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _address(text: str) -> tuple[int, int] | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return 4, int(addr.ipv4_mapped)
    return addr.version, int(addr)


def _context_number(value: Native) -> Decimal | None:
    return _number(value) if isinstance(value, str) else None


def _context_date(value: Native) -> int | None:
    if isinstance(value, datetime):
        return _micros(value)
    return _date(value) if isinstance(value, str) else None


def _context_bool(value: Native) -> bool | None:
    if isinstance(value, bool):
        return value
    folded = value.lower() if isinstance(value, str) else ""
    return True if folded == "true" else False if folded == "false" else None


# --- operators -------------------------------------------------------------------------------

Test = Callable[[Sequence[Native]], bool]
"""Whether any context value matches any policy value (the positive form of an operator)."""


def _show(value: object) -> str:
    # As the author wrote it in JSON: 1.5, "abc", true.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | Decimal) else repr(value)


def _policy_string(value: object) -> str:
    # Numbers and booleans are compared in their JSON spelling, as AWS stringifies them.
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | Decimal):
        return _show(value)
    raise ValueError(f"{_show(value)} is not a string")


def _policy_number(value: object) -> Decimal:
    if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        return Decimal(value)
    number = _number(value) if isinstance(value, str) else None
    if number is None:
        raise ValueError(f"{_show(value)} is not a number")
    return number


def _policy_date(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1_000_000
    micros = _date(value) if isinstance(value, str) else None
    if micros is None:
        raise ValueError(f"{_show(value)} is not an ISO 8601 date-time or integer epoch seconds")
    return micros


def _policy_bool(value: object) -> bool:
    parsed = _context_bool(value) if isinstance(value, bool | str) else None
    if parsed is None:
        raise ValueError(f"{_show(value)} is not true or false")
    return parsed


def _policy_network(value: object) -> tuple[int, int, int]:
    if not isinstance(value, str):
        raise ValueError(f"{_show(value)} is not an IP address or CIDR block")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR block") from None
    return net.version, int(net.network_address), int(net.broadcast_address)


def _string_equals(values: list[object]) -> Test:
    wanted = frozenset(_policy_string(v) for v in values)

    def test(natives: Sequence[Native]) -> bool:
        return any(render(n) in wanted for n in natives)

    return test


def _string_equals_ignore_case(values: list[object]) -> Test:
    wanted = frozenset(_policy_string(v).casefold() for v in values)

    def test(natives: Sequence[Native]) -> bool:
        return any(render(n).casefold() in wanted for n in natives)

    return test


def _string_like(values: list[object]) -> Test:
    matcher = Wildcards(_policy_string(v) for v in values)

    def test(natives: Sequence[Native]) -> bool:
        return any(matcher(render(n)) for n in natives)

    return test


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> Callable[[list[object]], Test]:
    def build(values: list[object]) -> Test:
        bounds = tuple(_policy_number(v) for v in values)

        def test(natives: Sequence[Native]) -> bool:
            for n in natives:
                got = _context_number(n)
                if got is not None and any(compare(got, b) for b in bounds):
                    return True
            return False

        return test

    return build


def _dated(compare: Callable[[int, int], bool]) -> Callable[[list[object]], Test]:
    def build(values: list[object]) -> Test:
        bounds = tuple(_policy_date(v) for v in values)

        def test(natives: Sequence[Native]) -> bool:
            for n in natives:
                got = _context_date(n)
                if got is not None and any(compare(got, b) for b in bounds):
                    return True
            return False

        return test

    return build


def _boolean(values: list[object]) -> Test:
    wanted = frozenset(_policy_bool(v) for v in values)

    def test(natives: Sequence[Native]) -> bool:
        return any(_context_bool(n) in wanted for n in natives)

    return test


def _ip_address(values: list[object]) -> Test:
    networks = tuple(_policy_network(v) for v in values)

    def test(natives: Sequence[Native]) -> bool:
        for n in natives:
            addr = _address(n) if isinstance(n, str) else None
            if addr is not None:
                version, number = addr
                if any(v == version and lo <= number <= hi for v, lo, hi in networks):
                    return True
        return False

    return test


# operator name → (builder of the positive test, negated)
OPERATORS: Final[dict[str, tuple[Callable[[list[object]], Test], bool]]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "NumericEquals": (_numeric(eq), False),
    "NumericNotEquals": (_numeric(eq), True),
    "NumericLessThan": (_numeric(lt), False),
    "NumericLessThanEquals": (_numeric(le), False),
    "NumericGreaterThan": (_numeric(gt), False),
    "NumericGreaterThanEquals": (_numeric(ge), False),
    "DateEquals": (_dated(eq), False),
    "DateNotEquals": (_dated(eq), True),
    "DateLessThan": (_dated(lt), False),
    "DateLessThanEquals": (_dated(le), False),
    "DateGreaterThan": (_dated(gt), False),
    "DateGreaterThanEquals": (_dated(ge), False),
    "Bool": (_boolean, False),
    "IpAddress": (_ip_address, False),
    "NotIpAddress": (_ip_address, True),
}

_IF_EXISTS: Final = "IfExists"


@dataclass(frozen=True, slots=True, eq=False)
class Condition:
    """One operator applied to one key: ``{"IpAddress": {"acs:SourceIp": [...]}}``."""

    operator: str
    key: str
    values: tuple[object, ...]
    negated: bool
    if_exists: bool
    _get: Getter = field(repr=False)
    _sub: str = field(repr=False)
    _test: Test = field(repr=False)

    def holds(self, ctx: RequestContext) -> bool:
        """Whether the request satisfies this condition."""
        natives = self._get(ctx, self._sub)
        if natives is None:
            return self.if_exists or self.negated
        return self._test(natives) is not self.negated


def compile_condition(operator: str, key: str, values: list[object]) -> Condition:
    """Compile one operator × key; raises ``ValueError`` naming what is wrong."""
    base = operator.removesuffix(_IF_EXISTS)
    entry = OPERATORS.get(base)
    if entry is None:
        raise ValueError(f"unknown condition operator {operator!r}")
    resolved = resolve_key(key)
    if resolved is None:
        raise ValueError(f"condition key {key!r} is not of the form <service>:<name>")
    builder, negated = entry
    return Condition(
        operator=operator,
        key=key,
        values=tuple(values),
        negated=negated,
        if_exists=operator != base,
        # Unknown keys are legal in documents; they are simply never in the context.
        _get=_GETTERS.get(resolved[0], _absent),
        _sub=resolved[1],
        _test=builder(values),
    )
