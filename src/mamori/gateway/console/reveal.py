"""Recording that a person looked at a secret value in the console.

There is no audit log yet (DESIGN §6): ``RevealAudit`` is the hook the audit work plugs into.
Until then ``LoggedReveals`` writes one structured log line per reveal: who, which secret,
which version and stage; never the value.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

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
