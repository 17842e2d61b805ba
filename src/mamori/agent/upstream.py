"""Where the agent gets secrets and data keys: the KMS API of a Mamori server.

``Upstream`` is the seam, with two implementations chosen in ``serve.build_upstream``:
``PopUpstream`` speaks the shared gateway's KMS OpenAPI (ACS3 signatures, RAM credentials from
the official credential chain), ``InstanceUpstream`` the dedicated gateway's instance API
(protobuf, a client key's RSA signatures). Both go through ``mamori.client``; nothing else in
the agent knows which one it has.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import ssl
from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

import aiohttp
import httpx
from alibabacloud_credentials.exceptions import CredentialException
from google.protobuf.message import Message
from Tea.exceptions import TeaException

from mamori.agent.config import AgentConfig
from mamori.client import AsyncClient, AsyncInstanceClient, CredentialSource, MamoriError
from mamori.client import _instance_shapes as shapes
from mamori.client._base import STS
from mamori.crypto.client_key import LoadedClientKey
from mamori.wire import instance as api

# Authentication failures: the server did not accept who we are (as opposed to what we asked).
_AUTHENTICATION = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken",
                   "IncompleteSignature", "InvalidApi.NotFound")  # fmt: skip


class UpstreamError(Exception):
    """A call the server refused or that never got an answer; ``transient`` when trying again
    later may succeed (no answer, a timeout, a 5xx, throttling)."""

    def __init__(self, code: str, message: str, status: int, transient: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.transient = transient


class Upstream(Protocol):
    """What the agent asks of KMS."""

    async def get_secret_value(
        self, name: str, version_id: str | None, version_stage: str | None
    ) -> dict[str, Any]:
        """GetSecretValue's JSON body."""
        ...

    async def generate_data_key(self, key_id: str, context: str | None) -> tuple[bytes, bytes]:
        """A new 256-bit data key of ``key_id``: (plaintext, wrapped), bound to ``context``."""
        ...

    async def decrypt_data_key(self, wrapped: bytes, context: str | None) -> tuple[bytes, str]:
        """The plaintext of a wrapped data key, and the id of the key that wrapped it."""
        ...

    async def key_id_of(self, key: str) -> str:
        """The id of the key an alias or ARN names (DescribeKey)."""
        ...

    async def check(self) -> str:
        """Prove the server answers and accepts the credentials; the account id, when the
        credentials may read it ("" otherwise)."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...


class PopUpstream:
    """The shared gateway (KMS OpenAPI, ACS3-HMAC-SHA256)."""

    def __init__(self, config: AgentConfig, credentials: CredentialSource) -> None:
        self._client = AsyncClient(
            config.endpoint,
            credentials=credentials,
            protocol="https" if config.protocol == "https" else "http",
            ca_file=config.ca_file,
            timeout=config.timeout_seconds,
            max_connections=64,
        )

    async def _call(self, action: str, version: str | None = None, **params: Any) -> dict[str, Any]:
        try:
            with _refusals():
                if version is None:
                    return await self._client.call(action, **params)
                return await self._client.call(action, version, **params)
        except CredentialException as exc:
            # The chain says why in its message (an STS refusal carries "http_code: 4xx"); the
            # agent's answer does not repeat it, the start-up check does.
            refused = "http_code: 4" in str(exc)
            raise UpstreamError(
                "CredentialsUnavailable",
                "the credential chain could not provide credentials",
                403 if refused else 502,
                not refused,
            ) from exc
        except (TeaException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            # The chain's own HTTP calls (ram_role_arn → STS) failing underneath.
            raise UpstreamError(
                "CredentialsUnavailable", "STS is not reachable", 502, True
            ) from exc

    async def get_secret_value(
        self, name: str, version_id: str | None, version_stage: str | None
    ) -> dict[str, Any]:
        """GetSecretValue."""
        return await self._call(
            "GetSecretValue", SecretName=name, VersionId=version_id, VersionStage=version_stage
        )

    async def generate_data_key(self, key_id: str, context: str | None) -> tuple[bytes, bytes]:
        """GenerateDataKey with NumberOfBytes 32."""
        body = await self._call(
            "GenerateDataKey", KeyId=key_id, NumberOfBytes=32, EncryptionContext=context
        )
        return _b64(body, "Plaintext"), _b64(body, "CiphertextBlob")

    async def decrypt_data_key(self, wrapped: bytes, context: str | None) -> tuple[bytes, str]:
        """Decrypt of a data key's CiphertextBlob: the plaintext and the answer's KeyId."""
        body = await self._call(
            "Decrypt",
            CiphertextBlob=base64.b64encode(wrapped).decode("ascii"),
            EncryptionContext=context,
        )
        return _b64(body, "Plaintext"), _text(body, "KeyId")

    async def key_id_of(self, key: str) -> str:
        """DescribeKey's KeyMetadata.KeyId."""
        body = await self._call("DescribeKey", KeyId=key)
        metadata = body.get("KeyMetadata")
        return _text(metadata if isinstance(metadata, dict) else {}, "KeyId")

    async def check(self) -> str:
        """GetCallerIdentity: any answer but an authentication failure proves the server and
        the credentials (a role without ``sts:GetCallerIdentity`` is refused after it was
        recognised)."""
        try:
            body = await self._call("GetCallerIdentity", STS)
        except UpstreamError as exc:
            if exc.transient or exc.code.startswith(_AUTHENTICATION) or exc.status == 401:
                raise
            return ""
        return str(body.get("AccountId", ""))

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()


R = TypeVar("R", bound=Message)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A ``mamori.client`` failure as the ``UpstreamError`` the agent answers with."""
    try:
        yield
    except MamoriError as exc:
        if exc.code == "InvalidResponse":
            raise UpstreamError("InvalidResponse", "the server's answer is not KMS's",
                                502, True) from None  # fmt: skip
        transient = exc.status >= 500 or exc.code.startswith("Rejected.Throttling")
        raise UpstreamError(exc.code, exc.message, exc.status, transient) from None
    except httpx.TimeoutException:
        raise UpstreamError("TimeoutError", "KMS did not answer in time", 504, True) from None
    except httpx.TransportError as exc:
        if _untrusted(exc):
            raise UpstreamError(
                "CertificateNotTrusted",
                "the server's certificate is not signed by the CA file (or a system root)",
                502,
                False,
            ) from None
        raise UpstreamError("ConnectionError", "KMS is not reachable", 502, True) from None


def _untrusted(exc: BaseException) -> bool:
    """Whether a transport failure was the server's certificate failing verification."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class InstanceUpstream:
    """The dedicated gateway (KMS instance API, a client key).

    Secrets come from ``GetSecretValue``, data keys from ``AdvanceGenerateDataKey`` and back
    through ``AdvanceDecrypt``, all in the shared gateway's shapes (``mamori.client``'s
    ``_instance_shapes``), so an envelope sealed through either gateway opens through the
    other. The instance API has no DescribeKey: an alias is resolved to the KeyId a one-byte
    ``GenerateDataKey`` answers with (the byte is dropped).
    """

    def __init__(self, config: AgentConfig, client_key: LoadedClientKey) -> None:
        self._client = AsyncInstanceClient(
            config.endpoint,
            client_key,
            ca_file=config.ca_file,
            timeout=config.timeout_seconds,
            max_connections=64,
        )

    async def _call(self, which: api.Api[Any, R], **fields: Any) -> R:
        with _refusals():
            return await self._client.call(which, **fields)

    async def get_secret_value(
        self, name: str, version_id: str | None, version_stage: str | None
    ) -> dict[str, Any]:
        """GetSecretValue, as the shared gateway's JSON body."""
        answer = await self._call(
            api.GET_SECRET_VALUE, SecretName=name, VersionId=version_id, VersionStage=version_stage
        )
        return shapes.secret_value_json(answer)

    async def generate_data_key(self, key_id: str, context: str | None) -> tuple[bytes, bytes]:
        """AdvanceGenerateDataKey of 32 bytes; the wrapped key in the shared gateway's form."""
        answer = await self._call(
            api.ADVANCE_GENERATE_DATA_KEY, KeyId=key_id, NumberOfBytes=32, Aad=_aad(context)
        )
        try:
            wrapped = shapes.shared_blob(answer.CiphertextBlob)
        except ValueError:
            wrapped = b""
        if not wrapped or len(answer.Plaintext) != 32:
            raise UpstreamError("InvalidResponse", "the data key answer is malformed", 502, True)
        return answer.Plaintext, wrapped

    async def decrypt_data_key(self, wrapped: bytes, context: str | None) -> tuple[bytes, str]:
        """AdvanceDecrypt of a wrapped data key: the plaintext and the answer's KeyId."""
        answer = await self._call(
            api.ADVANCE_DECRYPT, CiphertextBlob=shapes.advance_blob(wrapped), Aad=_aad(context)
        )
        if not answer.KeyId:
            raise UpstreamError("InvalidResponse", "the answer has no KeyId", 502, True)
        return answer.Plaintext, answer.KeyId

    async def key_id_of(self, key: str) -> str:
        """The KeyId a one-byte GenerateDataKey of ``key`` answers with."""
        answer = await self._call(api.GENERATE_DATA_KEY, KeyId=key, NumberOfBytes=1)
        if not answer.KeyId:
            raise UpstreamError("InvalidResponse", "the answer has no KeyId", 502, True)
        return answer.KeyId

    async def check(self) -> str:
        """GenerateRandom: an answer, or ``Forbidden.NoPermission`` (the key was recognised and
        its signature verified, its policies only grant no key), proves the server and the
        client key; anything else fails. The account is not known to a client key ("")."""
        try:
            await self._call(api.GENERATE_RANDOM, Length=1)
        except UpstreamError as exc:
            if exc.code != "Forbidden.NoPermission":
                raise
        return ""

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()


def _aad(context: str | None) -> bytes:
    """The Aad for an EncryptionContext given as canonical JSON."""
    try:
        return shapes.aad_of(json.loads(context) if context else None)
    except ValueError as exc:
        raise UpstreamError(
            "InvalidParameter",
            f"The specified parameter EncryptionContext is not valid. {exc}",
            400,
            False,
        ) from None


def _b64(body: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(str(body[name]), validate=True)
    except (KeyError, binascii.Error, ValueError):
        raise UpstreamError(
            "InvalidResponse", f"the answer has no valid {name}", 502, True
        ) from None


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise UpstreamError("InvalidResponse", f"the answer has no {name}", 502, True)
    return value
