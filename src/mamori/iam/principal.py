"""Who is calling: the identity an AccessKey or an STS token resolves to."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "root"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller within one account: the administrator, a RAM user, or a session
    of an assumed RAM role (``role`` set; ``session_policy`` narrows what the role may do)."""

    account_id: str
    name: str
    access_key_id: str
    role: str | None = None
    session_policy: str | None = None

    @property
    def is_admin(self) -> bool:
        """The account's administrator may do everything."""
        return self.role is None and self.name == ADMIN

    @property
    def arn(self) -> str:
        """``…:root``, ``…:user/{name}`` or ``…:assumed-role/{role}/{session}`` (the role's
        name in the case it was created with, as its ARN has it)."""
        if self.role is not None:
            return f"acs:ram::{self.account_id}:assumed-role/{self.role}/{self.name}"
        tail = "root" if self.is_admin else f"user/{self.name}"
        return f"acs:ram::{self.account_id}:{tail}"
