"""Domain exceptions. Each names the documented error code it becomes on the wire; the status and
message live in the one error table (``mamori.api.errors``)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected failure ``core`` and ``iam`` report."""

    code = "InternalFailure"

    def __init__(self, **fields: object) -> None:
        self.fields = fields
        super().__init__(self.code)


class KeyNotFound(DomainError):
    """No such key (or alias target, or ARN) in this account."""

    code = "Forbidden.KeyNotFound"


class KeyVersionNotFound(DomainError):
    """No such version of the key."""

    code = "Forbidden.KeyVersionNotFound"


class AliasNotFound(DomainError):
    """No such alias."""

    code = "Forbidden.AliasNotFound"


class AliasExists(DomainError):
    """The alias name is taken."""

    code = "AliasAlreadyExists"


class InvalidInput(DomainError):
    """A parameter has a value the domain cannot accept; fields: name, detail."""

    code = "InvalidParameter"

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(name=name, detail=f" {detail}" if detail else "")


class Unsupported(DomainError):
    """The key cannot do what was asked (spec or usage)."""

    code = "Rejected.UnsupportedOperation"

    def __init__(self, reason: str) -> None:
        super().__init__(reason=reason)


class LimitExceeded(DomainError):
    """A quota would be exceeded."""

    code = "Rejected.LimitExceeded"

    def __init__(self, what: str) -> None:
        super().__init__(what=what)


class StateConflict(DomainError):
    """The key's state forbids the operation; ``code`` is the state-specific Rejected.* code."""

    def __init__(self, code: str, state: str = "", reason: str = "") -> None:
        self.code = code
        super().__init__(state=state, reason=reason)


class UnsupportedOrigin(DomainError):
    """A key origin Mamori does not offer (yet)."""

    code = "Unsupported.Origin"


class UnsupportedProtectionLevel(DomainError):
    """A protection level Mamori does not offer (yet) for this spec."""

    code = "Unsupported.ProtectionLevel"


class CiphertextInvalid(DomainError):
    """The blob is malformed, or does not open with its key and this EncryptionContext. One
    answer for every cause, so a caller learns nothing about which check failed."""

    code = "InvalidParameter"

    def __init__(self) -> None:
        super().__init__(name="CiphertextBlob", detail="")


class AlreadyOpened(DomainError):
    """OpenKmsService on an account whose service is already on."""

    code = "Forbidden.Opened"


class InvalidImportToken(DomainError):
    """The ImportToken is unknown, or was issued for another key."""

    code = "InvalidImportToken"


class ExpiredImportToken(DomainError):
    """The ImportToken is older than 24 hours."""

    code = "ExpiredImportToken"


class InvalidKeyMaterial(DomainError):
    """The EncryptedKeyMaterial does not unwrap to material of the key's size, or is not the
    material imported before (only the same material may come back)."""

    code = "InvalidKeyMaterial"
