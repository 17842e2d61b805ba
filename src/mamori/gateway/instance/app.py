"""The dedicated gateway: the KMS instance API as a bare ASGI application on the TLS listener.

One request, in order (each failure is the ``Error`` protobuf with its code and status):

1. ``POST /`` with a body no larger than the limit (``RequestTooLarge``, 413).
2. ``read_claim``: headers, date syntax, body hash, key id, authorization syntax.
3. The API name is one of the 15 (``InvalidApiName``); the date is within the window.
4. ``authority.authenticate`` the client key (``Unauthorized``, 401), then verify its signature.
5. Decode the body: canonical protobuf only (``InvalidParameter`` Body).
6. Resolve the key or secret (``Forbidden.KeyNotFound`` …) and the instance it lives in; the
   instance the host name names, when it names one, must be that instance.
7. ``authority.authorize``: the AAP's policy must grant the template on the resource, in the
   instance, to the TCP peer address (``Forbidden.NoPermission``, 403).
8. Take one request from the instance's QPS budget (``Rejected.Throttling``, 429): only
   requests the instance's policies allow spend it, so no client key can exhaust the budget
   of an instance it may not use.
9. The core call; the response protobuf, with ``x-kms-migrationkeyversionid`` wherever a key
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
from mamori.core.errors import DomainError
from mamori.core.instance_crypto import Target, random_bytes
from mamori.core.instances import InstanceService
from mamori.core.refs import Scope
from mamori.gateway.asgi import ASGIScope, ClientGone, Receive, Send, read_body
from mamori.gateway.instance.errors import InstanceApiError, error_body
from mamori.gateway.instance.messages import APIS, MalformedBody, decode_request, encode
from mamori.gateway.instance.proto import instance_api_pb2 as pb
from mamori.gateway.instance.signature import (
    MIGRATION_KEY_VERSION_HEADER,
    check_freshness,
    read_claim,
    verify,
)
from mamori.gateway.instance.throttle import Budget
from mamori.gateway.request_ids import RequestIds
from mamori.iam.client_key_authority import (
    KEY_USER,
    SECRET_USER,
    AccessDenied,
    ClientKeyAuthority,
    ClientKeyRefused,
    ClientKeySubject,
    Permission,
)

log = logging.getLogger("mamori.gateway.instance")

_PROTOBUF: Final = b"application/x-protobuf"
_MIGRATION: Final = MIGRATION_KEY_VERSION_HEADER.encode("ascii")
_INSTANCE_HOST: Final = re.compile(r"(kst-[a-z0-9]{21})\.(.+)")
# Field sizes past the documented payload limits are refused before any key is looked up.
_MAX_NAME: Final = 2048
_request_id = RequestIds().next


def is_instance_request(scope: ASGIScope) -> bool:
    """Whether a request on the TLS listener speaks the instance API: it names an API in
    ``x-kms-apiname`` or sends protobuf. Either is enough, so that a half-formed instance
    request gets the ``Error`` protobuf its SDK can parse rather than POP JSON."""
    for name, value in scope["headers"]:
        if name == b"x-kms-apiname" or (name == b"content-type" and value.startswith(_PROTOBUF)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Request:
    """One authenticated request, as the handlers see it."""

    subject: ClientKeySubject
    scope: Scope
    peer_ip: str
    host_instance: str | None
    migration_version: str | None
    api: str


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
        host_names: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._services = services
        self._authority = authority
        self._instances = instances
        self._budgets = budgets
        self._region = region
        self._executor = executor
        self._max_body = max_body_bytes
        self._host_names = frozenset(h.lower() for h in host_names)
        self._clock = clock

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
        try:
            if scope["method"] != "POST" or scope["path"] != "/":
                raise InstanceApiError("InvalidParameter", name="method or path")
            body = await read_body(scope, receive, self._max_body, self._too_large)
            response = await self._handle(scope, body)
            payload, status = self._ok(response, request_id), 200
            if response.version_id is not None:
                headers.append((_MIGRATION, response.version_id.encode("ascii")))
        except ClientGone:
            return
        except InstanceApiError as exc:
            status, payload = exc.status, error_body(exc.status, exc.code, exc.message, request_id)
        except ApiError as exc:
            status, payload = exc.status, error_body(exc.status, exc.code, exc.message, request_id)
        except Exception:
            log.exception("instance request %s failed", request_id)
            failure = InstanceApiError("InternalFailure")
            status = failure.status
            payload = error_body(status, failure.code, failure.message, request_id)
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

    async def _handle(self, scope: ASGIScope, body: bytes) -> _Response:
        claim = read_claim("POST", scope["headers"], body)
        if claim.api_name not in APIS:
            raise InstanceApiError("InvalidApiName", name=claim.api_name)
        now = datetime.fromtimestamp(self._clock(), UTC)
        check_freshness(claim, now)
        try:
            subject = self._authority.authenticate(claim.client_key_id, now)
        except ClientKeyRefused:
            raise InstanceApiError("Unauthorized") from None
        verify(claim, subject.public_key)
        try:
            message = decode_request(claim.api_name, body)
        except MalformedBody:
            raise InstanceApiError("InvalidParameter", name="Body") from None
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
            return self._run(handler, request, message)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, handler, request, message)

    def _run(self, handler: Handler, request: _Request, message: Any) -> _Response:
        try:
            return handler(self, request, message)
        except DomainError as exc:
            if exc.code not in ERRORS:
                raise
            raise ApiError(exc.code, **exc.fields) from None

    # -- the steps every handler takes -------------------------------------------------------

    def admit(
        self, request: _Request, permission: Permission, resources: tuple[str, ...], home: str
    ) -> None:
        """Steps 6–8 for a resolved resource living in instance ``home`` (empty: the
        account's default): host-name instance, AAP policy, then the budget."""
        instance = home or self._instances.default_instance(request.scope.account_id).id
        if request.host_instance is not None and request.host_instance != instance:
            # The instance addressed does not hold it: from there, it does not exist.
            if permission == SECRET_USER:
                raise ApiError("Forbidden.ResourceNotFound")
            raise ApiError("Forbidden.KeyNotFound")
        qps = self._instances.qps_of(instance)
        if qps is None:
            # Addressed by a host name of no instance (or one released since).
            raise InstanceApiError("Forbidden.NoPermission")
        try:
            self._authority.authorize(
                request.subject, permission, resources, instance, request.peer_ip
            )
        except AccessDenied:
            raise InstanceApiError("Forbidden.NoPermission") from None
        # Only after the policy allowed it: a refused request never spends the budget of an
        # instance it may not use (any client key of the account could drain it otherwise).
        if not self._budgets.take(instance, qps):
            raise InstanceApiError("Rejected.Throttling")

    def key(self, request: _Request, key_id: str, *, by_header: bool = True) -> Target:
        """Resolve and admit the key a request names (or the migration header's version)."""
        if len(key_id) > _MAX_NAME:
            raise ApiError("InvalidParameter", name="KeyId", detail="")
        ops = self._services.instance_crypto
        if by_header and request.migration_version is not None:
            target = ops.version_target(request.scope, request.migration_version, key_id)
        else:
            target = ops.key_target(request.scope, key_id)
        self.admit(request, KEY_USER, target.resources, target.record.dkms_instance_id)
        return target

    def admit_any(self, request: _Request) -> None:
        """GenerateRandom names no resource: a policy granting ``CryptoServiceKeyUser`` on some
        key to the peer will do, in the instance the host name addresses if it names one, else
        in that policy's instance; that instance's budget pays for it."""
        try:
            instance = self._authority.authorize_any(
                request.subject, KEY_USER, request.host_instance, request.peer_ip
            )
        except AccessDenied:
            raise InstanceApiError("Forbidden.NoPermission") from None
        qps = self._instances.qps_of(instance)
        if qps is None:  # a policy for "shared", or an instance released since
            raise InstanceApiError("Forbidden.NoPermission")
        if not self._budgets.take(instance, qps):
            raise InstanceApiError("Rejected.Throttling")

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
    target, parsed = ops.advance_target(request.scope, req.CiphertextBlob, req.KeyId)
    gw.admit(request, KEY_USER, target.resources, target.record.dkms_instance_id)
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
    # Authorized against the instance holding the secret before anything about it is told (an
    # unknown secret is authorized against the default instance, then not found).
    gw.admit(request, SECRET_USER, (f"secret/{name}",), secrets.instance_of(request.scope, name))
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
