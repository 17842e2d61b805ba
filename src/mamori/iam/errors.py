"""RAM domain errors. Alibaba's RAM codes name the entity (``EntityNotExist.User``), so these
carry the entity kind and build their code from it; every code is a row of the error table."""

from __future__ import annotations

from mamori.core.errors import DomainError


class EntityNotExist(DomainError):
    """The named user, group, role, policy or version does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        self.code = f"EntityNotExist.{kind}"
        super().__init__(kind=kind, name=name)


class EntityAlreadyExists(DomainError):
    """The name is taken, or the membership/attachment already exists."""

    def __init__(self, kind: str, name: str) -> None:
        self.code = f"EntityAlreadyExists.{kind}"
        super().__init__(kind=kind, name=name)


class DeleteConflict(DomainError):
    """The entity still has dependents (AccessKeys, members, attachments, versions)."""

    def __init__(self, what: str, name: str) -> None:
        self.code = f"DeleteConflict.{what}"
        super().__init__(what=what, name=name)


class RamLimitExceeded(DomainError):
    """A RAM quota (e.g. two AccessKeys per user) would be exceeded."""

    def __init__(self, what: str) -> None:
        self.code = f"LimitExceeded.{what}"
        super().__init__(what=what)
