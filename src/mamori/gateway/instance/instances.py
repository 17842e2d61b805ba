"""What the dedicated gateway needs to know about KMS instances: which exist, each one's QPS
spec, and an account's default instance (where a key or secret without one lives)."""

from __future__ import annotations

from typing import Final, Protocol

DEFAULT_QPS: Final = 1000


class InstanceDirectory(Protocol):
    """The in-memory view of KMS instances the gateway reads on every request."""

    def exists(self, instance_id: str) -> bool:
        """Whether the instance exists (and is not released)."""
        ...

    def qps_of(self, instance_id: str) -> int:
        """The instance's QPS spec."""
        ...

    def default_of(self, account_id: str) -> str:
        """The id of the account's default instance."""
        ...


class DefaultInstanceOnly:
    """A stand-in until KMS instances exist as records: every account has one instance, with
    one id, at ``qps``."""

    INSTANCE_ID: Final = "kst-mamoridefaultinstance"

    def __init__(self, qps: int = DEFAULT_QPS) -> None:
        self._qps = qps

    def exists(self, instance_id: str) -> bool:
        """Only the default instance exists."""
        return instance_id == self.INSTANCE_ID

    def qps_of(self, instance_id: str) -> int:
        """The one spec."""
        return self._qps

    def default_of(self, account_id: str) -> str:
        """The one instance."""
        return self.INSTANCE_ID
