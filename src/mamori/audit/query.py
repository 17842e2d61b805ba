"""Finding request records in the chains of a data dir: by key, secret, principal, action,
result and time range (``mamori audit search|tail|export``)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mamori.audit.chain import chains, records, segment_records, segments


def time_bound(text: str) -> str:
    """An ISO 8601 time (``2026-12-04``, ``2026-12-04T08:00:00Z``, with an offset or without
    one for UTC) in the form records carry, so bounds compare as strings."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Query:
    """What a record must match; None matches anything."""

    key: str | None = None  # a key id: records naming key/<id> (or that ARN)
    secret: str | None = None  # a secret name
    principal: str | None = None  # a principal ARN, AccessKey id or client key id
    action: str | None = None
    result: str | None = None  # Success or an error code
    since: str | None = None  # a time_bound
    until: str | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether a request record (an outcome, or an intent: ``type`` intent, result null)
        matches every given criterion."""
        if record.get("type") not in ("request", "intent"):
            return False
        when = str(record.get("time", ""))
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when >= self.until:
            return False
        if self.action is not None and record.get("action") != self.action:
            return False
        if self.result is not None and record.get("result") != self.result:
            return False
        if self.principal is not None and self.principal not in (
            record.get("principal"),
            record.get("access_key_id"),
        ):
            return False
        resources = record.get("resources") or []
        if self.key is not None and not _names(resources, "key", self.key):
            return False
        return self.secret is None or _names(resources, "secret", self.secret)


def shown_result(record: dict[str, Any]) -> str:
    """A record's result as listings show it: an intent record has none yet, so ``intent``."""
    return "intent" if record.get("type") == "intent" else str(record.get("result") or "")


def _names(resources: list[str], kind: str, name: str) -> bool:
    suffix = f":{kind}/{name}"
    return any(r == name or r.endswith(suffix) for r in resources)


def search(audit_dir: Path, query: Query) -> Iterator[dict[str, Any]]:
    """Matching records of every chain, oldest first (each carries its ``chain``)."""
    streams = [_tagged(chain, query) for chain in chains(audit_dir)]
    yield from heapq.merge(*streams, key=lambda record: str(record.get("time", "")))


def _tagged(chain_dir: Path, query: Query) -> Iterator[dict[str, Any]]:
    for _, _, record in records(chain_dir):
        if query.matches(record):
            yield {"chain": chain_dir.name, **record}


def tail(audit_dir: Path, count: int, query: Query) -> list[dict[str, Any]]:
    """The last ``count`` matching records over every chain, oldest first. Reads each chain's
    segments from the newest back, only as far as needed."""
    found: list[dict[str, Any]] = []
    for chain_dir in chains(audit_dir):
        mine: list[dict[str, Any]] = []
        for _, path in reversed(segments(chain_dir)):
            batch = [
                {"chain": chain_dir.name, **record}
                for _, _, record in segment_records(path)
                if query.matches(record)
            ]
            mine[:0] = batch
            if len(mine) >= count:
                break
        found.extend(mine[-count:])
    found.sort(key=lambda record: str(record.get("time", "")))
    return found[-count:] if count else []
