"""The dedicated gateway: the KMS instance API as a bare ASGI application on the TLS listener.

One request, in order (each failure is the ``Error`` protobuf with its code and status):

1. ``POST /`` with a body no larger than the limit (``RequestTooLarge``, 413).
2. ``read_claim``: headers, date syntax, body hash, key id, authorization syntax.
3. The API name is one of the 15 (``InvalidApiName``); the date is within the window.
4. ``authority.authenticate`` the client key (``Unauthorized``, 401), then verify its signature.
5. Decode the body: canonical protobuf only (``InvalidParameter`` Body).
6. ``authority.screen`` the names the request gave (``key/<id>``, ``alias/<name>``,
   ``secret/<name>``), from memory, before anything is resolved: some policy of the AAP must
   cover them and admit the TCP peer address, else ``Forbidden.NoPermission`` (403) — alike
   whether the name exists or not.
7. Resolve the key or secret and the instance it lives in (the one the host name names, when
   it names one).
8. ``authority.authorize``: a policy must grant the template on the resource in that instance
   to the peer. Past the screen, a name that is not there and one the caller's policies do
   not reach get the same answer: ``Forbidden.KeyNotFound`` / ``Forbidden.ResourceNotFound``
   (404; ``InvalidParameter`` CiphertextBlob when only a blob's version named the key).
9. Take the request's cost (``costs.py``: 1, more for RSA key pairs and private-key work) from
   the QPS budget (``Rejected.Throttling``, 429) of the resource's instance, or for a name not
   found, of the caller's own (screened) instance: a request the policies refuse never spends
   the budget of an instance it may not use. An RSA key pair also needs one of the instance's
   generation slots (429 when they are all busy).
10. The core call; the response protobuf, with ``x-kms-migrationkeyversionid`` wherever a key
    version did the work (the transfer clients read it).

Only the 15 business calls exist here: no management action is reachable with a client key.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from google.protobuf.message import Message

from mamori.api.catalogue import Services
from mamori.api.errors import ERRORS, ApiError
from mamori.api.secrets.values import value_result
from mamori.audit import Event
from mamori.core.errors import CiphertextInvalid, DomainError, KeyNotFound
from mamori.core.instance_crypto import Target, random_bytes
from mamori.core.instances import InstanceService
from mamori.core.refs import Scope, parse_key_ref
from mamori.core.secret_rows import SecretNotFound
from mamori.crypto import blob
from mamori.gateway.asgi import ASGIScope, ClientGone, Receive, Send, read_body
from mamori.gateway.instance.costs import SLOTTED_PAIRS, PairSlots, cost_of
from mamori.gateway.instance.errors import InstanceApiError, error_body
from mamori.gateway.instance.messages import APIS, MalformedBody, decode_request, encode
from mamori.gateway.instance.signature import (
    MIGRATION_KEY_VERSION_HEADER,
    check_freshness,
    read_claim,
    verify,
)
from mamori.gateway.instance.throttle import Budget
from mamori.gateway.request_ids import RequestIds
from mamori.gateway.trail import Trail
from mamori.iam.client_key_authority import (
    KEY_USER,
    SECRET_USER,
    AccessDenied,
    ClientKeyAuthority,
    ClientKeyRefused,
    ClientKeySubject,
    Permission,
)
from mamori.store.database import StoreNeeded, memory_only
from mamori.wire import instance_api_pb2 as pb

log = logging.getLogger("mamori.gateway.instance")

_PROTOBUF: Final = b"application/x-protobuf"
_MIGRATION: Final = MIGRATION_KEY_VERSION_HEADER.encode("ascii")
_INSTANCE_HOST: Final = re.compile(r"(kst-[a-z0-9]{21})\.(.+)")
# Field sizes past the documented payload limits are refused before any key is looked up.
_MAX_NAME: Final = 2048
_request_id = RequestIds().next
# The message fields an audit record takes identifiers from (never a value: record.py).
_IDENTIFIERS: Final = ("KeyId", "KeyVersionId", "SecretName", "VersionId")


def is_instance_request(scope: ASGIScope) -> bool:
    """Whether a request on the TLS listener speaks the instance API: it names an API in
    ``x-kms-apiname`` or sends protobuf. Either is enough, so that a half-formed instance
    request gets the ``Error`` protobuf its SDK can parse rather than POP JSON."""
    for name, value in scope["headers"]:
        if name == b"x-kms-apiname" or (name == b"content-type" and value.startswith(_PROTOBUF)):
            return True
    return False


@dataclass(slots=True)
class _Request:
    """One authenticated request, as the handlers see it."""

    subject: ClientKeySubject
    scope: Scope
    peer_ip: str
    host_instance: str | None
    migration_version: str | None
    api: str
    # The budget was charged: a handler run again in the executor after a cache miss on the
    # event loop (``StoreNeeded``) does not pay twice.
    charged: bool = False
    # The key pair a GenerateDataKeyPair* call asks for (its cost and slot depend on it).
    pair_spec: str | None = None
    # What the request costs of the budget once its key is known (``costs.cost_of``).
    cost: int = 1
    # The instance whose key-pair slot the request holds (released when it is done).
    slot: str | None = None


class _Response:
    __slots__ = ("message", "version_id")

    def __init__(self, message: Message, version_id: str | None = None) -> None:
        self.message = message
        self.version_id = version_id


Handler = Callable[["InstanceGateway", _Request, Any], _Response]


class InstanceGateway:
    """ASGI callable for the KMS instance API."""

    def __init__(
        self,
        *,
        services: Services,
        authority: ClientKeyAuthority,
        instances: InstanceService,
        budgets: Budget,
        region: str,
        executor: ThreadPoolExecutor,
        max_body_bytes: int,
        trail: Trail,
        host_names: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
        refresh: Callable[[], None] = lambda: None,
    ) -> None:
        self._services = services
        # Applies what this node's other workers changed, before any cache is read.
        self._refresh = refresh
        self._authority = authority
        self._instances = instances
        self._budgets = budgets
        self._pair_slots = PairSlots()
        self._region = region
        self._executor = executor
        self._max_body = max_body_bytes
        self._host_names = frozenset(h.lower() for h in host_names)
        self._clock = clock
        self._trail = trail

    def _too_large(self) -> InstanceApiError:
        return InstanceApiError("RequestTooLarge", limit=str(self._max_body))

    def host_instance(self, scope: ASGIScope) -> str | None:
        """The instance a ``kst-<id>.<host name>`` Host header addresses, for a configured host
        name; None for any other host."""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").lower().rsplit(":", 1)[0]
                match = _INSTANCE_HOST.fullmatch(host)
                if match is not None and match.group(2) in self._host_names:
                    return match.group(1)
                return None
        return None

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = _request_id()
        headers: list[tuple[bytes, bytes]] = []
        event = self._trail.begin("instance", scope, request_id)
        try:
            self._trail.admit()
            if scope["method"] != "POST" or scope["path"] != "/":
                raise InstanceApiError("InvalidParameter", name="method or path")
            body = await read_body(scope, receive, self._max_body, self._too_large)
            response = await self._handle(scope, body, event)
            event.result = identifiers = _identifiers(response.message)
            payload, status = self._ok(response, request_id), 200
            if response.version_id is not None:
                headers.append((_MIGRATION, response.version_id.encode("ascii")))
                if not identifiers.get("KeyVersionId"):
                    identifiers["KeyVersionId"] = response.version_id
        except ClientGone:
            return
        except (InstanceApiError, ApiError) as exc:
            status, payload = exc.status, error_body(exc.status, exc.code, exc.message, request_id)
            event.code, event.status = exc.code, exc.status
        except Exception:
            log.exception("instance request %s failed", request_id)
            failure = InstanceApiError("InternalFailure")
            status = failure.status
            payload = error_body(status, failure.code, failure.message, request_id)
            event.code, event.status = failure.code, status
        try:
            # The response leaves only once its audit record is durable.
            await self._trail.finish(event)
        except ApiError as exc:
            status, payload = exc.status, error_body(exc.status, exc.code, exc.message, request_id)
            headers.clear()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", _PROTOBUF),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-kms-requestid", request_id.encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    def _ok(response: _Response, request_id: str) -> bytes:
        response.message.RequestId = request_id  # type: ignore[attr-defined]
        return encode(response.message)

    async def _handle(self, scope: ASGIScope, body: bytes, event: Event) -> _Response:
        self._refresh()
        claim = read_claim("POST", scope["headers"], body)
        event.action, event.access_key_id = claim.api_name, claim.client_key_id
        if claim.api_name not in APIS:
            raise InstanceApiError("InvalidApiName", name=claim.api_name)
        now = datetime.fromtimestamp(self._clock(), UTC)
        check_freshness(claim, now)
        loop = asyncio.get_running_loop()
        try:
            try:
                with memory_only():
                    subject = self._authority.authenticate(claim.client_key_id, now)
            except StoreNeeded:
                # Not cached either way: the store is read off the event loop, so a flood of
                # made-up ids never stalls the requests being served.
                subject = await loop.run_in_executor(
                    self._executor, self._authority.authenticate, claim.client_key_id, now
                )
        except ClientKeyRefused:
            raise InstanceApiError("Unauthorized") from None
        verify(claim, subject.public_key)
        event.account, event.principal = subject.account_id, f"aap/{subject.aap_name}"
        try:
            message = decode_request(claim.api_name, body)
        except MalformedBody:
            raise InstanceApiError("InvalidParameter", name="Body") from None
        event.params = _identifiers(message)
        client = scope.get("client")
        request = _Request(
            subject=subject,
            scope=Scope(self._region, subject.account_id),
            peer_ip=client[0] if client else "",
            host_instance=self.host_instance(scope),
            migration_version=claim.migration_key_version_id,
            api=claim.api_name,
        )
        handler, inline = _HANDLERS[claim.api_name]
        if inline:
            # From memory on the event loop; a cache miss anywhere (a key, alias, version, AAP
            # not cached) runs the handler again in the executor, where the store may be read.
            try:
                with memory_only():
                    return self._run(handler, request, message)
            except StoreNeeded:
                pass
        return await loop.run_in_executor(self._executor, self._run, handler, request, message)

    def _run(self, handler: Handler, request: _Request, message: Any) -> _Response:
        try:
            return handler(self, request, message)
        except DomainError as exc:
            if exc.code not in ERRORS:
                raise
            raise ApiError(exc.code, **exc.fields) from None
        finally:
            if request.slot is not None:
                self._pair_slots.release(request.slot)
                request.slot = None

    # -- the steps every handler takes -------------------------------------------------------

    def screen(self, request: _Request, permission: Permission, names: tuple[str, ...]) -> str:
        """Step 6, from memory, before anything is resolved: some policy must cover the names
        the request gave (``authority.screen``); its instance. A client key no policy covers is
        ``Forbidden.NoPermission`` whether the name exists or not."""
        try:
            return self._authority.screen(
                request.subject, permission, names, request.host_instance, request.peer_ip
            )
        except AccessDenied:
            raise InstanceApiError("Forbidden.NoPermission") from None

    def charge(self, request: _Request, instance: str) -> None:
        """Step 9: one request from the instance's budget (once per request)."""
        qps = self._instances.qps_of(instance)
        if qps is None:  # a policy for "shared", or an instance released since
            raise InstanceApiError("Forbidden.NoPermission")
        if request.charged:
            return
        slotted = request.cost > 1 and request.pair_spec in SLOTTED_PAIRS
        if slotted and not self._pair_slots.acquire(instance):
            # The instance already generates as many RSA key pairs as it may at once.
            raise InstanceApiError("Rejected.Throttling")
        if not self._budgets.take(instance, qps, request.cost):
            if slotted:
                self._pair_slots.release(instance)
            raise InstanceApiError("Rejected.Throttling")
        request.charged = True
        if slotted:
            request.slot = instance

    def authorize(
        self,
        request: _Request,
        permission: Permission,
        resources: tuple[str, ...],
        home: str,
        unseen: DomainError,
    ) -> str:
        """Step 8 for a resolved resource living in instance ``home`` (empty: the account's
        default): the instance the host name addresses, then the AAP policy. A screened caller
        whose policies do not reach it there gets ``unseen`` — the answer for a name that does
        not exist — so it cannot tell the two apart. The resource's instance."""
        instance = home or self._instances.default_instance(request.scope.account_id).id
        if request.host_instance is not None and request.host_instance != instance:
            # The instance addressed does not hold it: from there, it does not exist.
            raise unseen
        try:
            self._authority.authorize(
                request.subject, permission, resources, instance, request.peer_ip
            )
        except AccessDenied:
            raise unseen from None
        return instance

    def key(self, request: _Request, key_id: str, *, by_header: bool = True) -> Target:
        """Screen, resolve, authorize and charge the key a request names (or the migration
        header's version)."""
        version = request.migration_version if by_header else None
        if version is None:
            return self.reach(request, key_id, None)
        ops = self._services.instance_crypto
        return self.reach(
            request, key_id, lambda: ops.version_target(request.scope, version, key_id)
        )

    def reach(
        self, request: _Request, key_id: str, versioned: Callable[[], Target] | None
    ) -> Target:
        """Steps 6–9 for a key named by ``key_id`` and/or a version (``versioned`` resolves
        it: the migration header's, an Advance blob's).

        With a KeyId, the key is authorized before the version is looked at, so a version id
        tells nothing about a key the caller may not use. Not found, or not reachable by the
        caller's policies: ``Forbidden.KeyNotFound`` (``InvalidParameter`` CiphertextBlob when
        only a version named it), charged to the caller's own (screened) instance; the key's
        instance pays once the key is authorized."""
        if len(key_id) > _MAX_NAME:
            raise ApiError("InvalidParameter", name="KeyId", detail="")
        ops = self._services.instance_crypto
        if not key_id and versioned is None:
            ops.key_target(request.scope, key_id)  # InvalidParameter KeyId: it is required
        names = (_given_key_name(request.scope, key_id),) if key_id else ()
        screened = self.screen(request, KEY_USER, names)
        try:
            if key_id:
                target = ops.key_target(request.scope, key_id)
                self._admit_key(request, target, KeyNotFound())
                if versioned is not None:
                    target = versioned()
            else:
                assert versioned is not None
                target = versioned()
                self._admit_key(request, target, CiphertextInvalid())
        except (KeyNotFound, CiphertextInvalid):
            self.charge(request, screened)  # unless the key's instance paid already
            raise
        return target

    def _admit_key(self, request: _Request, target: Target, unseen: DomainError) -> None:
        home = target.record.dkms_instance_id
        request.cost = cost_of(request.api, target.record.spec, request.pair_spec)
        self.charge(request, self.authorize(request, KEY_USER, target.resources, home, unseen))

    def admit_any(self, request: _Request) -> None:
        """GenerateRandom names no resource: a policy granting ``CryptoServiceKeyUser`` on some
        key to the peer will do, in the instance the host name addresses if it names one, else
        in that policy's instance; that instance's budget pays for it."""
        self.charge(request, self.screen(request, KEY_USER, ()))

    @property
    def services(self) -> Services:
        """The services handlers call."""
        return self._services


# -- handlers ------------------------------------------------------------------------------------


def _encrypt(gw: InstanceGateway, request: _Request, req: Any, advance: bool) -> _Response:
    target = gw.key(request, req.KeyId, by_header=not advance)
    ops = gw.services.instance_crypto
    sealed = ops.encrypt(
        target, req.Plaintext, req.Algorithm, req.Aad, req.Iv, req.PaddingMode, advance=advance
    )
    response: Message
    if advance:
        response = pb.AdvanceEncryptResponse(
            KeyId=sealed.key_id,
            CiphertextBlob=sealed.ciphertext,
            Iv=sealed.iv,
            Algorithm=sealed.algorithm,
            PaddingMode=sealed.padding_mode,
            KeyVersionId=sealed.version_id,
        )
    else:
        response = pb.EncryptResponse(
            KeyId=sealed.key_id,
            CiphertextBlob=sealed.ciphertext,
            Iv=sealed.iv,
            Algorithm=sealed.algorithm,
            PaddingMode=sealed.padding_mode,
        )
    return _Response(response, sealed.version_id)


def _decrypt(gw: InstanceGateway, request: _Request, req: Any) -> _Response:
    if not req.KeyId and request.migration_version is None:
        raise InstanceApiError("MissingParameter", name="KeyId")
    target = gw.key(request, req.KeyId)
    opened = gw.services.instance_crypto.decrypt(
        target, req.CiphertextBlob, req.Algorithm, req.Aad, req.Iv, req.PaddingMode
    )
    response = pb.DecryptResponse(
        KeyId=opened.key_id,
        Plaintext=opened.plaintext,
        Algorithm=opened.algorithm,
        PaddingMode=opened.padding_mode,
    )
    return _Response(response, opened.version_id)


def _advance_decrypt(gw: InstanceGateway, request: _Request, req: Any) -> _Response:
    ops = gw.services.instance_crypto
    blobs: list[blob.Blob] = []

    def versioned() -> Target:
        target, parsed = ops.advance_target(request.scope, req.CiphertextBlob, req.KeyId)
        blobs.append(parsed)
        return target

    target = gw.reach(request, req.KeyId, versioned)
    parsed = blobs[0]
    opened = ops.decrypt(
        target, req.CiphertextBlob, req.Algorithm, req.Aad, req.Iv, req.PaddingMode, parsed
    )
    response = pb.AdvanceDecryptResponse(
        KeyId=opened.key_id,
        Plaintext=opened.plaintext,
        Algorithm=opened.algorithm,
        PaddingMode=opened.padding_mode,
        KeyVersionId=opened.version_id,
    )
    return _Response(response, opened.version_id)


def _data_key(gw: InstanceGateway, request: _Request, req: Any, advance: bool) -> _Response:
    target = gw.key(request, req.KeyId, by_header=False)
    algorithm = "" if advance else req.Algorithm
    sealed, plaintext = gw.services.instance_crypto.generate_data_key(
        target, req.NumberOfBytes, algorithm, req.Aad, advance=advance
    )
    fields: dict[str, Any] = {
        "KeyId": sealed.key_id,
        "Iv": sealed.iv,
        "Plaintext": plaintext,
        "CiphertextBlob": sealed.ciphertext,
        "Algorithm": sealed.algorithm,
    }
    response: Message
    if advance:
        response = pb.AdvanceGenerateDataKeyResponse(**fields, KeyVersionId=sealed.version_id)
    else:
        response = pb.GenerateDataKeyResponse(**fields)
    return _Response(response, sealed.version_id)


_PAIRS: Final[dict[str, tuple[type[Message], bool, bool]]] = {
    # api -> (response, advance, with plaintext)
    "GenerateDataKeyPair": (pb.GenerateDataKeyPairResponse, False, True),
    "GenerateDataKeyPairWithoutPlaintext": (
        pb.GenerateDataKeyPairWithoutPlaintextResponse,
        False,
        False,
    ),
    "AdvanceGenerateDataKeyPair": (pb.AdvanceGenerateDataKeyPairResponse, True, True),
    "AdvanceGenerateDataKeyPairWithoutPlaintext": (
        pb.AdvanceGenerateDataKeyPairWithoutPlaintextResponse,
        True,
        False,
    ),
}


def _data_key_pair(gw: InstanceGateway, request: _Request, req: Any) -> _Response:
    response_type, advance, with_plaintext = _PAIRS[request.api]
    request.pair_spec = req.KeyPairSpec or "RSA_2048"  # the SDKs' default, as in the core
    target = gw.key(request, req.KeyId, by_header=False)
    algorithm = getattr(req, "Algorithm", "")
    pair = gw.services.instance_crypto.generate_data_key_pair(
        target, algorithm, req.KeyPairSpec, req.KeyFormat, req.Aad, advance=advance
    )
    fields: dict[str, Any] = {
        "KeyId": pair.sealed.key_id,
        "Iv": pair.sealed.iv,
        "KeyPairSpec": pair.key_pair_spec,
        "PrivateKeyCiphertextBlob": pair.sealed.ciphertext,
        "PublicKey": pair.public_key,
        "Algorithm": pair.sealed.algorithm,
    }
    if with_plaintext:
        fields["PrivateKeyPlaintext"] = pair.private_key
    if advance:
        fields["KeyVersionId"] = pair.sealed.version_id
    return _Response(response_type(**fields), pair.sealed.version_id)


def _sign(gw: InstanceGateway, request: _Request, req: Any) -> _Response:
    target = gw.key(request, req.KeyId)
    version_id, algorithm, signature = gw.services.instance_crypto.sign(
        target, req.Algorithm, req.MessageType, req.Message, req.Digest
    )
    response = pb.SignResponse(
        KeyId=target.record.id,
        Signature=signature,
        Algorithm=algorithm,
        MessageType=req.MessageType or "RAW",
    )
    return _Response(response, version_id)


def _verify(gw: InstanceGateway, request: _Request, req: Any) -> _Response:
    target = gw.key(request, req.KeyId)
    version_id, algorithm, valid = gw.services.instance_crypto.verify(
        target, req.Algorithm, req.MessageType, req.Message, req.Digest, req.Signature
    )
    response = pb.VerifyResponse(
        KeyId=target.record.id,
        Value=valid,
        Algorithm=algorithm,
        MessageType=req.MessageType or "RAW",
    )
    return _Response(response, version_id)


def _public_key(gw: InstanceGateway, request: _Request, req: Any) -> _Response:
    target = gw.key(request, req.KeyId)
    version_id, pem = gw.services.instance_crypto.public_key(target)
    return _Response(pb.GetPublicKeyResponse(KeyId=target.record.id, PublicKey=pem), version_id)


def _given_key_name(scope: Scope, key_id: str) -> str:
    """The policy-form name a KeyId gives before it is resolved: ``key/<id>`` (also from an
    ARN) or ``alias/<name>``; anything else as ``key/<text>``, which only ``key/*`` covers."""
    ref = parse_key_ref(scope, key_id)
    if ref is not None and ref.alias is not None:
        return ref.alias
    if ref is not None and ref.key_id is not None:
        return f"key/{ref.key_id}"
    return f"key/{key_id}"


def _random(gw: InstanceGateway, request: _Request, req: Any) -> _Response:
    # Checked first: a bad Length spends no budget.
    data = random_bytes(req.Length)
    gw.admit_any(request)
    return _Response(pb.GenerateRandomResponse(Random=data))


def _secret_value(gw: InstanceGateway, request: _Request, req: Any) -> _Response:
    name = req.SecretName
    if not name:
        raise InstanceApiError("MissingParameter", name="SecretName")
    if len(name) > 192 or len(req.VersionId) > 64 or len(req.VersionStage) > 64:
        raise ApiError("InvalidParameter", name="SecretName", detail="")
    secrets = gw.services.secrets
    # Screened on the name before anything about it is told; a secret that is not there, or
    # not where the caller's policies reach, is not found (the caller's own instance pays).
    names = (f"secret/{name}",)
    screened = gw.screen(request, SECRET_USER, names)
    home = secrets.instance_of(request.scope, name)
    if home is None:
        gw.charge(request, screened)
        raise SecretNotFound
    gw.charge(request, gw.authorize(request, SECRET_USER, names, home, SecretNotFound()))
    secret, value = secrets.read(
        request.scope, name, req.VersionId or None, req.VersionStage or None
    )
    result = value_result(secret, value, req.FetchExtendedConfig)
    stages = result.pop("VersionStages")["VersionStage"]
    fields = pb.GetSecretValueResponse.DESCRIPTOR.fields_by_name
    response = pb.GetSecretValueResponse(
        **{k: str(v) for k, v in result.items() if k in fields and v is not None},
        VersionStages=stages,
    )
    return _Response(response)


_HANDLERS: Final[dict[str, tuple[Handler, bool]]] = {
    # api -> (handler, runs inline on the event loop: symmetric work over cached keys)
    "Encrypt": (lambda gw, r, m: _encrypt(gw, r, m, advance=False), True),
    "AdvanceEncrypt": (lambda gw, r, m: _encrypt(gw, r, m, advance=True), True),
    "Decrypt": (_decrypt, True),
    "AdvanceDecrypt": (_advance_decrypt, True),
    "GenerateDataKey": (lambda gw, r, m: _data_key(gw, r, m, advance=False), True),
    "AdvanceGenerateDataKey": (lambda gw, r, m: _data_key(gw, r, m, advance=True), True),
    "GenerateDataKeyPair": (_data_key_pair, False),
    "GenerateDataKeyPairWithoutPlaintext": (_data_key_pair, False),
    "AdvanceGenerateDataKeyPair": (_data_key_pair, False),
    "AdvanceGenerateDataKeyPairWithoutPlaintext": (_data_key_pair, False),
    "Sign": (_sign, False),
    "Verify": (_verify, False),
    "GetPublicKey": (_public_key, False),
    "GenerateRandom": (_random, True),
    "GetSecretValue": (_secret_value, False),
}
assert set(_HANDLERS) == set(APIS), "every routed API has a handler"


class TlsListener:
    """What the TLS port serves: the instance API for instance requests (``is_instance_request``
    or a ``kst-…`` host name), the shared gateway for everything else."""

    def __init__(self, instance: InstanceGateway, shared: Callable[..., Any]) -> None:
        self._instance = instance
        self._shared = shared

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            is_instance_request(scope) or self._instance.host_instance(scope) is not None
        ):
            await self._instance(scope, receive, send)
        else:
            await self._shared(scope, receive, send)


def _identifiers(message: Message) -> dict[str, str]:
    """The key and secret identifiers a request or response message carries."""
    fields = message.DESCRIPTOR.fields_by_name
    return {name: getattr(message, name) for name in _IDENTIFIERS if name in fields}
