"""Who is calling: the identity an AccessKey (or, later, an STS token) resolves to."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "root"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller within one account."""

    account_id: str
    name: str
    access_key_id: str

    @property
    def is_admin(self) -> bool:
        """The account's administrator may do everything."""
        return self.name == ADMIN

    @property
    def arn(self) -> str:
        """``acs:ram::{account}:root`` or ``acs:ram::{account}:user/{name}``."""
        tail = "root" if self.is_admin else f"user/{self.name}"
        return f"acs:ram::{self.account_id}:{tail}"
