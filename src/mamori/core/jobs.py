"""Background work that must happen on time: deleting keys whose window has passed and rotating
keys whose rotation is due. ``run_due`` takes the time, so tests pass fixed instants."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mamori.core.keys import KeyService

log = logging.getLogger("mamori.jobs")


@dataclass(frozen=True, slots=True)
class JobReport:
    """What one pass did."""

    deleted: list[str]
    rotated: list[str]


def run_due(keys: KeyService, now: int) -> JobReport:
    """One pass over every due deletion and rotation."""
    report = JobReport(deleted=keys.delete_due(now), rotated=keys.rotate_due(now))
    for key_id in report.deleted:
        log.info("deleted key %s (deletion window passed)", key_id)
    for key_id in report.rotated:
        log.info("rotated key %s (automatic rotation due)", key_id)
    return report
