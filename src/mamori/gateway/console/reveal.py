"""Recording that a person looked at a secret value in the console.

With the audit log on, ``RecordedReveals`` makes the reveal's request record (one record per
reveal, durable before the value is sent: gateway/trail.py) say so: its action is
``RevealSecretValue`` and it names the secret and version shown. With ``audit = "off"``,
``LoggedReveals`` writes one structured log line per reveal instead. Never the value.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

from mamori.audit import Event

log = logging.getLogger("mamori.console.reveal")


class RevealAudit(Protocol):
    """Told of every secret value the console showed, after it was read and before it is sent."""

    def secret_revealed(
        self, *, principal_arn: str, secret_name: str, version_id: str, stages: list[str]
    ) -> None:
        """Record one reveal; raising refuses to show the value (fail-closed)."""
        ...


class LoggedReveals:
    """The reveal hook until the audit log exists: a JSON line on ``mamori.console.reveal``."""

    def secret_revealed(
        self, *, principal_arn: str, secret_name: str, version_id: str, stages: list[str]
    ) -> None:
        """Log who revealed which version of which secret."""
        record = {
            "event": "console.secret_revealed",
            "principal": principal_arn,
            "secret": secret_name,
            "version_id": version_id,
            "stages": stages,
        }
        log.info("%s", json.dumps(record, ensure_ascii=False, sort_keys=True))


class RecordedReveals:
    """The reveal hook of one console request whose audit record is ``event``."""

    def __init__(self, event: Event) -> None:
        self._event = event

    def secret_revealed(
        self, *, principal_arn: str, secret_name: str, version_id: str, stages: list[str]
    ) -> None:
        """Make the request's one record the reveal's: the secret and version shown."""
        self._event.action = "RevealSecretValue"
        self._event.result = {"SecretName": secret_name, "VersionId": version_id}
