"""The tamper-evident audit log (docs/audit.md): hash-chained JSON Lines, group-committed."""

from __future__ import annotations

from mamori.audit.chain import Break, Report, chains, records, verify
from mamori.audit.log import AuditLog, AuditUnavailable, ChainBusy
from mamori.audit.record import SUCCESS, Encoder, Event

__all__ = [
    "SUCCESS",
    "AuditLog",
    "AuditUnavailable",
    "Break",
    "ChainBusy",
    "Encoder",
    "Event",
    "Report",
    "chains",
    "records",
    "verify",
]
