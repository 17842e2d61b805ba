"""RAMCredentials secrets: a Mamori RAM user's AccessKey, rotated by issuing a new AccessKey and
retiring the old one after a grace period.

* The name is ``$Auto`` on CreateSecret; the secret is called ``acs/ram/user/<UserName>``.
* ExtendedConfig: ``{"SecretSubType": "RamUserAccessKey", "UserName": …}``, plus, as a Mamori
  extension, ``GracePeriod`` (``<n>[d|h|m|s]``, default 1 day, at most 30 days): how long the
  replaced AccessKey keeps working before it is made Inactive. It is deleted at the next
  rotation, which needs its slot (a RAM user holds two AccessKeys at most).
* SecretData: ``{"AccessKeys": [{"AccessKeyId": …, "AccessKeySecret": …}]}``, an AccessKey the
  user holds now (checked). Each version holds ``{"AccessKeyId", "AccessKeySecret",
  "GenerateTimestamp"}``, the shape the managed-credentials providers read.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from mamori.core.errors import DomainError, InvalidInput
from mamori.core.managed_rotation import RotationFailed, Values
from mamori.core.model import iso, parse_interval
from mamori.core.refs import Scope
from mamori.core.secret_rows import Secret

RAM_CREDENTIALS = "RAMCredentials"
SUBTYPE = "RamUserAccessKey"
AUTO_NAME = "$Auto"
NAME_PREFIX = "acs/ram/user/"
GRACE_DEFAULT = 86400
GRACE_MAX = 30 * 86400
_ACTIVE = "Active"
_INACTIVE = "Inactive"


class KeyOwner(Protocol):
    """Who holds an AccessKey, as the RAM store reports it."""

    @property
    def account_id(self) -> str: ...

    @property
    def name(self) -> str: ...


class KeyEntry(Protocol):
    """A stored AccessKey."""

    @property
    def secret(self) -> str: ...

    @property
    def principal(self) -> KeyOwner: ...

    @property
    def status(self) -> str: ...


class AccessKeys(Protocol):
    """The RAM AccessKey store (``mamori.iam.access_keys.AccessKeyService``)."""

    def lookup(self, access_key_id: str) -> KeyEntry | None: ...

    def listing(self, account_id: str, principal: str) -> list[Any]: ...

    def issue(
        self, account_id: str, principal: str, *, ram_user: bool, pair: tuple[str, str] | None
    ) -> object: ...

    def delete(self, account_id: str, principal: str, access_key_id: str) -> None: ...

    def set_status(
        self, account_id: str, principal: str, access_key_id: str, status: str
    ) -> None: ...


def secret_name(config: dict[str, Any]) -> str:
    """The name a RAMCredentials secret gets: ``acs/ram/user/<UserName>``."""
    return NAME_PREFIX + _user(config)


def _user(config: dict[str, Any]) -> str:
    user = config.get("UserName")
    if not isinstance(user, str) or not user or len(user) > 64:
        raise InvalidInput("ExtendedConfig", "UserName must name a RAM user.")
    return user


def _pair(value: bytes | None) -> tuple[str, str]:
    try:
        data = json.loads(value or b"")
        return str(data["AccessKeyId"]), str(data["AccessKeySecret"])
    except (ValueError, KeyError, TypeError):
        raise RotationFailed("the stored value is not an AccessKey") from None


def _value(access_key_id: str, secret: str, now: int) -> bytes:
    return json.dumps(
        {"AccessKeyId": access_key_id, "AccessKeySecret": secret, "GenerateTimestamp": iso(now)},
        separators=(",", ":"),
    ).encode()


class RamCredentialSecrets:
    """The managed type ``RAMCredentials``."""

    def __init__(self, access_keys: AccessKeys, new_pair: Any) -> None:
        self._keys = access_keys
        self._new_pair = new_pair

    def initial(self, scope: Scope, config: dict[str, Any], data: bytes, now: int) -> list[bytes]:
        """The AccessKey in SecretData must be the user's, with its right secret."""
        if config.get("SecretSubType") != SUBTYPE:
            raise InvalidInput("ExtendedConfig", f"SecretSubType must be {SUBTYPE}.")
        user = _user(config)
        self.grace(config)
        try:
            entries = json.loads(data)["AccessKeys"]
            (entry,) = entries
            access_key_id, secret = str(entry["AccessKeyId"]), str(entry["AccessKeySecret"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(
                "SecretData",
                'RAMCredentials secrets hold {"AccessKeys":[{"AccessKeyId":"…",'
                '"AccessKeySecret":"…"}]} with one AccessKey.',
            ) from None
        stored = self._keys.lookup(access_key_id)
        if (
            stored is None
            or stored.principal.account_id != scope.account_id
            or stored.principal.name != user
            or not hmac.compare_digest(stored.secret.encode(), secret.encode())
        ):
            raise InvalidInput("SecretData", "The AccessKey is not one of the user's.")
        return [_value(access_key_id, secret, now)]

    def next_value(self, secret: Secret, config: dict[str, Any], values: Values, now: int) -> bytes:
        """A new AccessKey id and secret (issued only in ``apply``)."""
        access_key_id, key_secret = self._new_pair()
        return _value(access_key_id, key_secret, now)

    def in_effect(self, secret: Secret, config: dict[str, Any], value: bytes) -> bool:
        """Whether the value's AccessKey exists, is Active, and is the user's."""
        access_key_id, key_secret = _pair(value)
        stored = self._keys.lookup(access_key_id)
        return (
            stored is not None
            and stored.status == _ACTIVE
            and stored.principal.account_id == secret.account_id
            and stored.principal.name == _user(config)
            and hmac.compare_digest(stored.secret.encode(), key_secret.encode())
        )

    def apply(self, secret: Secret, config: dict[str, Any], value: bytes, values: Values) -> None:
        """Issue the new AccessKey, first deleting the one ACSPrevious holds when the user
        has no free slot."""
        user = _user(config)
        access_key_id, key_secret = _pair(value)
        if self._keys.lookup(access_key_id) is not None:
            return
        try:
            held = [k.access_key_id for k in self._keys.listing(secret.account_id, user)]
            if len(held) >= 2:
                previous = _pair(values.previous)[0] if values.previous else None
                if previous not in held:
                    raise RotationFailed(
                        f"RAM user {user} already holds two AccessKeys not managed here"
                    )
                self._keys.delete(secret.account_id, user, str(previous))
            self._keys.issue(
                secret.account_id, user, ram_user=True, pair=(access_key_id, key_secret)
            )
        except RotationFailed:
            raise
        except DomainError as exc:
            raise RotationFailed(f"RAM refused the change ({exc.code})") from None
        except IntegrityError:
            # Another node issued this very key meanwhile; the caller checks it is in effect.
            raise RotationFailed("the AccessKey was issued concurrently") from None

    def grace(self, config: dict[str, Any]) -> int | None:
        """GracePeriod in seconds (default one day)."""
        text = config.get("GracePeriod")
        if text is None:
            return GRACE_DEFAULT
        seconds = parse_interval(str(text))
        if seconds is None or seconds > GRACE_MAX:
            raise InvalidInput("ExtendedConfig", "GracePeriod is <n>[d|h|m|s], 30 days at most.")
        return seconds

    def retire(self, secret: Secret, config: dict[str, Any], replaced: bytes) -> None:
        """Make the replaced AccessKey Inactive (it is deleted at the next rotation)."""
        access_key_id, _ = _pair(replaced)
        stored = self._keys.lookup(access_key_id)
        if stored is not None and stored.status == _ACTIVE:
            self._keys.set_status(secret.account_id, _user(config), access_key_id, _INACTIVE)
