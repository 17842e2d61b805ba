"""What the dedicated gateway asks of application access points (AAPs), and nothing more.

The instance API authenticates a request by its client key's RSA signature and authorizes it by
the policies of the key's AAP: signature valid ∧ the client key exists, is not deleted and is
within its validity ∧ some policy of its AAP grants the permission template on the resource in
that KMS instance ∧ the TCP peer address matches that policy's network rules (issue 10, item 4).

``iam`` implements ``ClientKeyAuthority`` (with the AAP tables); ``gateway/instance`` only calls
it, so the gateway knows wire formats and nothing about how AAPs are stored. Changes to an AAP
(a policy detached, a rule narrowed, a key deleted) must hold from the next request on, on every
node and worker: implementations cache only behind the invalidation bus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# The two RBAC templates an AAP policy grants (Alibaba's ``Permissions`` values).
Permission = Literal[
    "RbacPermission/Template/CryptoServiceKeyUser",
    "RbacPermission/Template/CryptoServiceSecretUser",
]
KEY_USER: Permission = "RbacPermission/Template/CryptoServiceKeyUser"
SECRET_USER: Permission = "RbacPermission/Template/CryptoServiceSecretUser"  # noqa: S105


@dataclass(frozen=True, slots=True)
class ClientKeySubject:
    """An authenticated client key: whose it is and what verifies its signatures."""

    client_key_id: str  # "KAAP.<uuid>"
    account_id: str
    aap_name: str
    public_key: RSAPublicKey


class ClientKeyRefused(Exception):
    """The client key cannot sign requests: unknown, deleted, or outside NotBefore/NotAfter.
    (The gateway answers every case alike, so a caller cannot tell which.)"""


class AccessDenied(Exception):
    """No policy of the AAP grants the permission on the resource in the instance, or none
    whose network rules admit the peer address."""


class ClientKeyAuthority(Protocol):
    """Client keys and their AAP policies, as the dedicated gateway needs them."""

    def authenticate(self, client_key_id: str, now: datetime) -> ClientKeySubject:
        """The subject of a live client key at ``now`` (aware), else ``ClientKeyRefused``.
        Called before the signature is verified, with the key id the request claims."""
        ...

    def authorize(
        self,
        subject: ClientKeySubject,
        permission: Permission,
        resources: Sequence[str],
        instance_id: str,
        peer_ip: str,
    ) -> None:
        """Return if some policy of the subject's AAP grants ``permission`` on any of
        ``resources`` in KMS instance ``instance_id`` and its network rules admit ``peer_ip``;
        else raise ``AccessDenied``.

        ``resources`` are the policy-form names of the one target, every way the request
        reached it: a key as ``key/<key id>`` plus ``alias/<alias name>`` when it was named by
        an alias; a secret as ``secret/<secret name>``. A policy's ``Resources`` entry (``key/*``,
        ``key/key-…``, ``alias/…``, ``secret/*``, ``secret/<name>``) matching any of them grants
        it."""
        ...

    def screen(
        self,
        subject: ClientKeySubject,
        permission: Permission,
        names: Sequence[str],
        instance_id: str | None,
        peer_ip: str,
    ) -> str:
        """Before a name is resolved: the KMS instance of the first policy of the subject's AAP
        that has ``permission``, names one of ``names`` as the request gave them (itself or its
        kind's wildcard; for an alias, any key; no names: any resource of its kind), in
        ``instance_id`` when the request addressed one, and admits ``peer_ip``; else raise
        ``AccessDenied``. A caller no policy covers is refused alike whether the name exists
        or not."""
        ...

    def authorize_any(
        self,
        subject: ClientKeySubject,
        permission: Permission,
        instance_id: str | None,
        peer_ip: str,
    ) -> str:
        """For a call that names no resource (``GenerateRandom``): the KMS instance of the
        first policy of the subject's AAP that grants ``permission`` on some resource, in
        ``instance_id`` when the request addressed one, and admits ``peer_ip``; else raise
        ``AccessDenied``."""
        ...
