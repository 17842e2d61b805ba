"""Background work that must happen on time: deleting keys whose window has passed and rotating
keys and Generic secrets whose rotation is due. ``run_due`` takes the time, so tests pass fixed
instants."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mamori.core.keys import KeyService
from mamori.core.secrets import SecretService

log = logging.getLogger("mamori.jobs")


@dataclass(frozen=True, slots=True)
class JobReport:
    """What one pass did."""

    deleted: list[str]
    rotated: list[str]
    purged_secrets: list[str] = field(default_factory=list)
    rotated_secrets: list[str] = field(default_factory=list)
    retired_secrets: list[str] = field(default_factory=list)


def run_due(keys: KeyService, now: int, secrets: SecretService | None = None) -> JobReport:
    """One pass over every due deletion and rotation (and secret purge and
    rotation, given the service)."""
    report = JobReport(
        deleted=keys.delete_due(now),
        rotated=keys.rotate_due(now),
        purged_secrets=secrets.delete_due(now) if secrets is not None else [],
        rotated_secrets=secrets.rotate_due_secrets(now) if secrets is not None else [],
        retired_secrets=secrets.retire_due(now) if secrets is not None else [],
    )
    for secret in report.purged_secrets:
        log.info("deleted secret %s (recovery window passed)", secret)
    for secret in report.rotated_secrets:
        log.info("rotated secret %s (automatic rotation due)", secret)
    for secret in report.retired_secrets:
        log.info("retired the replaced credentials of secret %s (grace period over)", secret)
    for key_id in report.deleted:
        log.info("deleted key %s (deletion window passed)", key_id)
    for key_id in report.rotated:
        log.info("rotated key %s (automatic rotation due)", key_id)
    return report
