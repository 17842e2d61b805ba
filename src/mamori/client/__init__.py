"""Mamori's own client, for both gateways, importing no server code (it can be installed and
used on its own):

* ``Client`` / ``AsyncClient``: the shared gateway (KMS OpenAPI), ACS3-HMAC-SHA256 signatures
  with an AccessKey or the official credential chain; any action by name.
* ``InstanceClient`` / ``AsyncInstanceClient``: the dedicated gateway (KMS instance API),
  protobuf bodies signed with a client key (``load_client_key``, ``client_key_password``); the
  APIs of ``mamori.wire.instance``.

Both repeat throttled calls with jittered backoff (``Retry``) and raise ``MamoriError`` with the
server's code for a refusal.

The clients load on first use (PEP 562), and httpx with them: commands of ``mamori`` that call
no server (``mamori server`` among them) start without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mamori.client._base import Credential, CredentialSource, MamoriError, Retry

if TYPE_CHECKING:
    from mamori.client._async import AsyncClient
    from mamori.client._client import Client
    from mamori.client._client_key import ClientKeyError, client_key_password, load_client_key
    from mamori.client._instance import AsyncInstanceClient, InstanceClient

__all__ = [
    "AsyncClient",
    "AsyncInstanceClient",
    "Client",
    "ClientKeyError",
    "Credential",
    "CredentialSource",
    "InstanceClient",
    "MamoriError",
    "Retry",
    "client_key_password",
    "load_client_key",
]

# What loads on first use, and the module it comes from.
_LAZY = {
    "Client": "_client",
    "AsyncClient": "_async",
    "InstanceClient": "_instance",
    "AsyncInstanceClient": "_instance",
    "ClientKeyError": "_client_key",
    "client_key_password": "_client_key",
    "load_client_key": "_client_key",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib.import_module: the interpreter's own import, which
    # ``-X importtime`` (and so the tests of what a start loads) sees.
    return getattr(__import__(f"mamori.client.{module}", fromlist=[name]), name)
