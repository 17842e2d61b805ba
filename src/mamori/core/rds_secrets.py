"""Rds secrets: database account credentials whose rotation changes the password on the real
database server.

ExtendedConfig (stored in the clear, so it never holds a password):

* ``SecretSubType``: ``SingleUser`` (one account; its password changes) or ``DoubleUsers`` (two
  accounts with the same rights; each rotation changes the one not in use and makes it current,
  so the other keeps working as ACSPrevious);
* ``DBInstanceId``: on Alibaba Cloud an RDS instance id; in Mamori the server's URL,
  ``postgresql://host:port/dbname`` or ``mysql://host:port`` (MySQL and MariaDB);
* ``AdminSecretName`` (Mamori, optional): a secret in the same account whose current value is
  ``{"AccountName": …, "AccountPassword": …}`` of an account allowed to change passwords. Without
  it, each account changes its own password with the password it has now;
* the GetRandomPassword options shape the new passwords, as for Generic secrets.

SecretData is ``{"Accounts": [{"AccountName": …, "AccountPassword": …}]}`` with one account
(SingleUser) or two (DoubleUsers). Each version holds one account,
``{"AccountName": …, "AccountPassword": …}``, which GetSecretValue returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mamori.core.db_accounts import Account, AccountError, Server, can_log_in, change_password
from mamori.core.errors import InvalidInput
from mamori.core.managed_rotation import RotationFailed, Values
from mamori.core.refs import Scope
from mamori.core.secret_rotation import new_password
from mamori.core.secret_rows import Secret

RDS = "Rds"
SINGLE = "SingleUser"
DOUBLE = "DoubleUsers"

ReadSecret = Callable[[Scope, str], bytes]


def _account(value: bytes | None, what: str) -> Account:
    try:
        data = json.loads(value or b"")
        return Account(str(data["AccountName"]), str(data["AccountPassword"]))
    except (ValueError, KeyError, TypeError):
        raise RotationFailed(f"{what} is not an account") from None


def _value(account: Account) -> bytes:
    return json.dumps(
        {"AccountName": account.name, "AccountPassword": account.password},
        separators=(",", ":"),
    ).encode()


def _accounts(data: bytes) -> list[Account]:
    """SecretData's ``Accounts``; names are non-empty strings, passwords strings."""
    try:
        entries = json.loads(data)["Accounts"]
        accounts = [Account(e["AccountName"], e["AccountPassword"]) for e in entries]
    except (ValueError, KeyError, TypeError):
        accounts = []
    if not accounts or not all(
        isinstance(a.name, str) and a.name and isinstance(a.password, str) for a in accounts
    ):
        raise InvalidInput(
            "SecretData",
            'Rds secrets hold {"Accounts":[{"AccountName":"…","AccountPassword":"…"}]}.',
        )
    return accounts


class RdsSecrets:
    """The managed type ``Rds``."""

    def __init__(self, read_secret: ReadSecret) -> None:
        # Reads another secret's current value: the admin credentials, when configured.
        self._read_secret = read_secret

    def initial(self, scope: Scope, config: dict[str, Any], data: bytes, now: int) -> list[bytes]:
        """One version per account: the first holds ACSCurrent, a second one ACSPrevious."""
        subtype = config.get("SecretSubType")
        if subtype not in (SINGLE, DOUBLE):
            raise InvalidInput("ExtendedConfig", "SecretSubType must be SingleUser or DoubleUsers.")
        Server.parse(str(config.get("DBInstanceId") or ""))
        admin = config.get("AdminSecretName")
        if admin is not None and (not isinstance(admin, str) or not admin):
            raise InvalidInput("ExtendedConfig", "AdminSecretName must name a secret.")
        accounts = _accounts(data)
        wanted = 1 if subtype == SINGLE else 2
        if len(accounts) != wanted or len({a.name for a in accounts}) != wanted:
            raise InvalidInput("SecretData", f"{subtype} takes {wanted} distinct account(s).")
        return [_value(a) for a in accounts]

    def next_value(self, secret: Secret, config: dict[str, Any], values: Values, now: int) -> bytes:
        """The account to change gets a new password; for DoubleUsers that is the account in
        ACSPrevious, which nobody should be using now."""
        current = _account(values.current, "ACSCurrent")
        target = current
        if config.get("SecretSubType") == DOUBLE:
            target = _account(values.previous, "ACSPrevious")
            if target.name == current.name:
                raise RotationFailed("ACSPrevious holds the same account as ACSCurrent")
        password = new_password(secret.extended_config).decode()
        return _value(Account(target.name, password))

    def in_effect(self, secret: Secret, config: dict[str, Any], value: bytes) -> bool:
        """Whether the account logs in with the value's password."""
        return can_log_in(_server(config), _account(value, "the new value"))

    def apply(self, secret: Secret, config: dict[str, Any], value: bytes, values: Values) -> None:
        """Log in (as the admin account, or as the account itself with its password now) and
        set the new password."""
        target = _account(value, "the new value")
        admin = config.get("AdminSecretName")
        if admin:
            login = _account(
                self._read_secret(Scope("", secret.account_id), str(admin)), "AdminSecretName"
            )
        elif config.get("SecretSubType") == DOUBLE:
            login = _account(values.previous, "ACSPrevious")
        else:
            login = _account(values.current, "ACSCurrent")
        try:
            change_password(_server(config), login, target.name, target.password)
        except AccountError as exc:
            raise RotationFailed(str(exc)) from None

    def grace(self, config: dict[str, Any]) -> int | None:
        """Old database passwords are replaced, not retired."""
        return None

    def retire(self, secret: Secret, config: dict[str, Any], replaced: bytes) -> None:
        """Nothing to retire."""


def _server(config: dict[str, Any]) -> Server:
    return Server.parse(str(config.get("DBInstanceId") or ""))
