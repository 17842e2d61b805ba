"""Clients for the shared test server."""

from __future__ import annotations

import pytest
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient

from tests.compat.sdk import OldSdk, new_sdk, ram_sdk
from tests.conftest import ServerProcess


@pytest.fixture(scope="session")
def kms(server: ServerProcess) -> Client:
    """The new SDK with the administrator's AccessKey (ACS3 signatures)."""
    return new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)


@pytest.fixture(scope="session")
def old(server: ServerProcess) -> OldSdk:
    """The old SDK with the administrator's AccessKey (RPC V1 signatures)."""
    return OldSdk(server.endpoint, server.access_key_id, server.access_key_secret)


@pytest.fixture(scope="session")
def ram(server: ServerProcess) -> RamClient:
    """The new RAM SDK with the administrator's AccessKey (ACS3 signatures)."""
    return ram_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
