"""One request's audit event, and its encoding as the body of a chain record (docs/audit.md).

The encoding is built by hand from precomputed pieces: it runs once per request on the event
loop, where a ``json.dumps`` of a dict and a ``datetime`` formatting each cost more than the
rest of the record. Every string that did not come from Mamori itself goes through the C JSON
string escaper, so a record is always one valid JSON object on one line.

What an event may hold is fixed here: identifiers (request, principal, AccessKey or client key
id, key, key version, secret name and version), the action, the outcome and timings. Never a
parameter's value beyond those identifiers, so never plaintext, ciphertext, a secret value, a
password or an AccessKey secret.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any, Final

SUCCESS: Final = "Success"
# Identifiers a caller supplies are cut to this many characters in a record.
_MAX_ID: Final = 256
# Encoded caller fragments kept (callers x actions x addresses); past it, forgotten at once.
_MAX_FRAGMENTS: Final = 4096
# Encoded targets kept (accounts x keys and secrets x versions); past it, forgotten at once.
# Fewer than fragments: an entry holds up to four identifiers of _MAX_ID characters.
_MAX_TARGETS: Final = 1024
# An outcome record's ``result`` member when the request succeeded: most of them.
_SUCCEEDED: Final = f'"result":{_quote(SUCCESS)}'
_NOTHING: Final[Mapping[str, Any]] = {}
# The shape of an id Mamori issues: an AccessKey (LTAI…), an STS token's (STS.…), a client key's
# (KAAP.…). A claimed id of any other shape is recorded only as a fingerprint.
_CREDENTIAL_ID: Final = re.compile(r"(?:LTAI|STS\.|KAAP\.)[A-Za-z0-9._-]{1,240}")


class Event:
    """What a gateway learns about one request, filled in as it goes."""

    __slots__ = (
        "access_key_id",
        "account",
        "action",
        "code",
        "gateway",
        "params",
        "principal",
        "request_id",
        "resources",
        "result",
        "source_ip",
        "started",
        "status",
        "tls",
        "version",
    )

    def __init__(self, gateway: str, request_id: str, source_ip: str, tls: bool) -> None:
        self.gateway = gateway
        self.request_id = request_id
        self.source_ip = source_ip
        self.tls = tls
        self.started = time.perf_counter()
        self.action = ""
        self.version = ""
        self.account = ""
        self.principal = ""  # an ARN, or a client key's AAP subject
        self.access_key_id = ""  # or the client key id on the dedicated gateway
        # The request's parameters and the result, read only for the identifiers above.
        self.params: Mapping[str, str] | None = None
        self.result: Mapping[str, Any] | None = None
        self.resources: list[str] = []  # ARNs a gateway names itself (the console's reveal)
        self.code = SUCCESS
        self.status = 200

    def latency_seconds(self) -> float:
        """Seconds since the request arrived."""
        return time.perf_counter() - self.started


def claimed_id(value: str) -> str:
    """A claimed AccessKey or client key id as a record holds it: as given when it has the
    shape of one Mamori issues, else ``unrecognised:`` and 16 hex digits of its SHA-256. A
    caller who swapped the id and the secret in a configuration sends the secret as the id;
    it must not land in the audit trail."""
    if not value or _CREDENTIAL_ID.fullmatch(value):
        return value
    fingerprint = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"unrecognised:{fingerprint}"


def _named(result: Mapping[str, Any], params: Mapping[str, str], name: str) -> str | None:
    """``name`` from the result (canonical ids), else as the request named it."""
    found = result.get(name)
    if isinstance(found, str) and found:
        return found[:_MAX_ID]
    found = params.get(name)
    return found[:_MAX_ID] if isinstance(found, str) and found else None


def _key_id(result: Mapping[str, Any], params: Mapping[str, str]) -> str | None:
    """The key's id from the result, its ``KeyMetadata`` (CreateKey, DescribeKey), else as the
    request named it."""
    found = result.get("KeyId")
    if isinstance(found, str) and found:
        return found[:_MAX_ID]
    metadata = result.get("KeyMetadata")
    if isinstance(metadata, Mapping):
        found = metadata.get("KeyId")
        if isinstance(found, str) and found:
            return found[:_MAX_ID]
    return _named(_NOTHING, params, "KeyId")


class Encoder:
    """Builds record bodies for one node and region: the constant parts made once, the parts
    that repeat from request to request kept encoded (who, from where, which action; on which
    key or secret), the time of day formatted once a second. Per record, what is left is a
    few dict lookups and one string build."""

    def __init__(self, node: str, region: str) -> None:
        self._node = f'"node":{_quote(node)}'
        self._region = region
        self._second = -1
        self._stamp = ""
        self._fragments: dict[tuple[str | bool, ...], str] = {}
        self._targets: dict[tuple[str | None, ...], str] = {}

    def _fragment(self, event: Event) -> str:
        """The members that repeat across a caller's requests, encoded once per combination."""
        # What a caller sends unauthenticated (action, version, claimed id) is cut before it
        # becomes part of a key: the cache holds at most _MAX_FRAGMENTS small entries. A
        # claimed id that fits is keyed as sent (``claimed_id`` runs once, on a miss); a longer
        # one is never recorded as sent, so its fingerprint stands for it, marked as such.
        action, version = event.action[:_MAX_ID], event.version[:_MAX_ID]
        claimed = event.access_key_id
        long = len(claimed) > _MAX_ID
        if long:
            claimed = claimed_id(claimed)
        key = (
            event.gateway,
            action,
            version,
            event.account,
            event.principal,
            claimed,
            long,
            event.source_ip,
            event.tls,
        )
        fragment = self._fragments.get(key)
        if fragment is None:
            access_key_id = claimed if long else claimed_id(claimed)[:_MAX_ID]
            fragment = (
                f'{self._node},"gateway":"{event.gateway}",'
                f'"action":{_quote(action)},'
                f'"version":{_quote(version)},"account":{_quote(event.account)},'
                f'"principal":{_quote(event.principal)},'
                f'"access_key_id":{_quote(access_key_id)},'
                f'"source_ip":{_quote(event.source_ip)},"tls":{"true" if event.tls else "false"}'
            )
            if len(self._fragments) >= _MAX_FRAGMENTS:
                self._fragments.clear()
            self._fragments[key] = fragment
        return fragment

    def _target(self, event: Event) -> str:
        """``resources``, ``key_version_id`` and ``secret_version_id``, encoded once per
        combination of account, key, secret and versions (unless the gateway named resources
        of its own: the console's reveal, encoded each time)."""
        result = event.result or _NOTHING
        params = event.params or _NOTHING
        key_id, secret = _key_id(result, params), _named(result, params, "SecretName")
        key_version = _named(result, params, "KeyVersionId") if key_id is not None else None
        secret_version = _named(result, params, "VersionId") if secret is not None else None
        named = event.resources
        key = (event.account, key_id, key_version, secret, secret_version)
        target = None if named else self._targets.get(key)
        if target is None:
            resources = [_quote(r) for r in named]
            scope = f"acs:kms:{self._region}:{event.account}"
            if key_id is not None:
                arn = key_id if key_id.startswith("acs:") else f"{scope}:{_key_path(key_id)}"
                resources.append(_quote(arn))
            if secret is not None:
                arn = secret if secret.startswith("acs:") else f"{scope}:secret/{secret}"
                resources.append(_quote(arn))
            target = (
                f'"resources":[{",".join(resources)}],'
                f'"key_version_id":{_optional(key_version)},'
                f'"secret_version_id":{_optional(secret_version)}'
            )
            if not named:
                if len(self._targets) >= _MAX_TARGETS:
                    self._targets.clear()
                self._targets[key] = target
        return target

    def body(self, event: Event) -> str:
        """The members of the record between ``seq`` and ``prev``, as JSON text."""
        latency = event.latency_seconds() * 1000
        code = event.code
        result = _SUCCEEDED if code == SUCCESS else f'"result":{_quote(code)}'
        return (
            f'"type":"request",{self._members(event)},'
            f'{result},"status":{event.status},"latency_ms":{latency:.3f}'
        )

    def intent(self, event: Event) -> str:
        """An intent record's members: the request as authorized, before it acts. The same
        members as its outcome record (``body``, same ``request_id``), the resources as the
        request named them; ``result``, ``status`` and ``latency_ms`` are null (not known)."""
        return (
            f'"type":"intent",{self._members(event)},"result":null,"status":null,"latency_ms":null'
        )

    def _members(self, event: Event) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return (
            f'"time":"{self._stamp}.{int((now - second) * 1_000_000):06d}Z",'
            f'"request_id":"{event.request_id}",{self._fragment(event)},{self._target(event)}'
        )


def _key_path(key_id: str) -> str:
    return key_id if key_id.startswith("alias/") else f"key/{key_id}"


def _optional(value: str | None) -> str:
    return "null" if value is None else _quote(value)
