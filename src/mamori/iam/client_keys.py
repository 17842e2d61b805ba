"""Client keys of AAPs: CreateClientKey, GetClientKey, ListClientKeys, DeleteClientKey.

A client key is issued by ``mamori.crypto.client_key``: the ClientKeyContent (the private key
in a PKCS#12 under the caller's password) is handed back once and never stored; the store
keeps the certificate (the public key and the validity) and the AAP it belongs to.

Password rules (Alibaba's, for ``Password``): 8–64 characters, each a digit, a letter or one
of ``~!@#$%^&*?_-``, with at least two of those three kinds. Validity: ``NotBefore`` and
``NotAfter`` in ``YYYY-MM-DDThh:mm:ssZ``, both or neither; neither means from now for five
years.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, func, insert, select

from mamori.core.errors import InvalidInput
from mamori.crypto.client_key import KEY_ALGORITHM, IssuedClientKey, issue_client_key, new_key_id
from mamori.iam.aap_names import MAX_CLIENT_KEYS_PER_AAP, AapLimitExceeded, AapNotFound
from mamori.store import schema as t
from mamori.store.database import Database

KEY_ORIGIN: Final = "KMS_PROVIDED"  # Alibaba: client keys are made only by KMS
PASSWORD_MIN: Final = 8
PASSWORD_MAX: Final = 64
_SPECIALS: Final = "~!@#$%^&*?_-"
_PASSWORD = re.compile(r"[A-Za-z0-9" + re.escape(_SPECIALS) + r"]{8,64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
DEFAULT_YEARS: Final = 5


class MissingCounterpart(Exception):
    """NotBefore without NotAfter, or the reverse: the API answers MissingParameter."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def check_password(password: str) -> str:
    """Alibaba's rules; the refusal never repeats the password."""
    if not _PASSWORD.fullmatch(password):
        raise InvalidInput(
            "Password",
            f"It must be {PASSWORD_MIN}-{PASSWORD_MAX} digits, letters or {_SPECIALS}.",
        )
    kinds = (
        any(c.isdigit() for c in password),
        any(c.isalpha() for c in password),
        any(c in _SPECIALS for c in password),
    )
    if sum(kinds) < 2:
        raise InvalidInput(
            "Password", "It must hold at least two of: digits, letters, special characters."
        )
    return password


def parse_time(param: str, text: str) -> datetime:
    """``YYYY-MM-DDThh:mm:ssZ`` (UTC) as an aware datetime."""
    if not _TIME.fullmatch(text):
        raise InvalidInput(param, "It must be YYYY-MM-DDThh:mm:ssZ (UTC).")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(param, "It is not a valid date and time.") from None


def _years_later(moment: datetime, years: int) -> datetime:
    year = moment.year + years
    day = min(moment.day, calendar.monthrange(year, moment.month)[1])  # 29 February
    return moment.replace(year=year, day=day)


def validity(
    now: datetime, not_before: str | None, not_after: str | None
) -> tuple[datetime, datetime]:
    """The validity asked for: both times, or neither (now, for five years)."""
    if not_before is None and not_after is None:
        start = now.replace(microsecond=0)
        return start, _years_later(start, DEFAULT_YEARS)
    if not_before is None:
        raise MissingCounterpart("NotBefore")
    if not_after is None:
        raise MissingCounterpart("NotAfter")
    start, end = parse_time("NotBefore", not_before), parse_time("NotAfter", not_after)
    if end <= start:
        raise InvalidInput("NotAfter", "It must be later than NotBefore.")
    return start, end


@dataclass(frozen=True, slots=True)
class ClientKey:
    """What is known of a client key: never its private half."""

    key_id: str
    account_id: str
    aap_name: str
    certificate_der: bytes
    not_before: int
    not_after: int
    created_at: int

    @property
    def public_key_pem(self) -> str:
        """``PublicKeyData``: the certificate, PEM (as Alibaba shows it)."""
        cert = x509.load_der_x509_certificate(self.certificate_der)
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def algorithm(self) -> str:
        """``KeyAlgorithm``."""
        return KEY_ALGORITHM


def _key(row: Any) -> ClientKey:
    return ClientKey(
        row.id,
        row.account_id,
        row.aap_name,
        bytes(row.certificate),
        row.not_before,
        row.not_after,
        row.created_at,
    )


class ClientKeys:
    """Client keys of AAPs. ``changed(account)`` runs after every committed change."""

    def __init__(
        self, db: Database, clock: Callable[[], float], changed: Callable[[str], None]
    ) -> None:
        self._db = db
        self._clock = clock
        self._changed = changed

    def create(
        self,
        account: str,
        aap_name: str,
        password: str,
        not_before: str | None = None,
        not_after: str | None = None,
    ) -> tuple[ClientKey, IssuedClientKey]:
        """Issue a client key for an existing AAP; the IssuedClientKey's content is the only
        copy of the private key."""
        check_password(password)
        now = self._clock()
        start, end = validity(datetime.fromtimestamp(now, UTC), not_before, not_after)
        aap = t.aap_access_points.c
        with self._db.read() as conn:
            found = conn.execute(
                select(aap.name).where(aap.account_id == account, aap.name == aap_name)
            ).first()
        if found is None:
            raise AapNotFound
        # RSA key generation takes tens of milliseconds: outside the write transaction.
        issued = issue_client_key(new_key_id(), password, start, end)
        key = ClientKey(
            issued.public.key_id,
            account,
            aap_name,
            issued.public.certificate_der,
            int(start.timestamp()),
            int(end.timestamp()),
            int(now),
        )
        with self._db.begin() as conn:
            # The AAP, locked: deleted meanwhile → not found; its key count is exact.
            if (
                conn.execute(
                    select(aap.name)
                    .where(aap.account_id == account, aap.name == aap_name)
                    .with_for_update()
                ).first()
                is None
            ):
                raise AapNotFound
            keys = t.aap_client_keys.c
            count = conn.execute(
                select(func.count())
                .select_from(t.aap_client_keys)
                .where(keys.account_id == account, keys.aap_name == aap_name)
            ).scalar_one()
            if count >= MAX_CLIENT_KEYS_PER_AAP:
                raise AapLimitExceeded("client keys of an application access point")
            conn.execute(
                insert(t.aap_client_keys).values(
                    id=key.key_id,
                    account_id=account,
                    aap_name=aap_name,
                    certificate=key.certificate_der,
                    not_before=key.not_before,
                    not_after=key.not_after,
                    created_at=key.created_at,
                )
            )
        self._changed(account)
        return key, issued

    def get(self, account: str, key_id: str) -> ClientKey:
        """The client key, else ``AapNotFound``."""
        keys = t.aap_client_keys.c
        with self._db.read() as conn:
            row = conn.execute(
                select(t.aap_client_keys).where(keys.account_id == account, keys.id == key_id)
            ).first()
        if row is None:
            raise AapNotFound
        return _key(row)

    def listing(self, account: str, aap_name: str | None) -> list[ClientKey]:
        """The account's client keys (of one AAP, which must exist), oldest first."""
        keys = t.aap_client_keys.c
        where = [keys.account_id == account]
        with self._db.read() as conn:
            if aap_name is not None:
                aap = t.aap_access_points.c
                if (
                    conn.execute(
                        select(aap.name).where(aap.account_id == account, aap.name == aap_name)
                    ).first()
                    is None
                ):
                    raise AapNotFound
                where.append(keys.aap_name == aap_name)
            rows = conn.execute(
                select(t.aap_client_keys).where(*where).order_by(keys.created_at, keys.id)
            ).all()
        return [_key(r) for r in rows]

    def delete(self, account: str, key_id: str) -> None:
        """Delete the client key: it signs nothing from the next request on."""
        keys = t.aap_client_keys.c
        with self._db.begin() as conn:
            gone = conn.execute(
                delete(t.aap_client_keys).where(keys.account_id == account, keys.id == key_id)
            ).rowcount
        if not gone:
            raise AapNotFound
        self._changed(account)
