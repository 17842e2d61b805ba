"""The pytest plugin (entry point ``pytest11``: ``mamori``), registered when mamori is installed.

It only declares fixtures, all named ``mamori_…`` or ``kms_client``, and starts nothing until a
test asks for one, so a suite that does not use them (Mamori's own included) is unaffected.
Disable it with ``-p no:mamori``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mamori.testing._server import MamoriCredentials, MamoriServer, start_server


@pytest.fixture(scope="session")
def mamori_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MamoriServer]:
    """A real Mamori server (SQLite, free ports, throwaway data dir), once per session."""
    with start_server(tmp_path_factory.mktemp("mamori")) as server:
        yield server


@pytest.fixture(scope="session")
def mamori_credentials(mamori_server: MamoriServer) -> MamoriCredentials:
    """The test server's administrator AccessKey and endpoints; ``.config()`` is a ready
    ``alibabacloud_tea_openapi`` Config for the official SDKs."""
    assert mamori_server.credentials is not None
    return mamori_server.credentials


@pytest.fixture
def kms_client(mamori_credentials: MamoriCredentials) -> Any:
    """An official ``alibabacloud_kms20160120`` client of the test server."""
    try:
        from alibabacloud_kms20160120.client import Client
    except ImportError:  # pragma: no cover - depends on the user's environment
        pytest.fail("kms_client needs the official SDK: pip install alibabacloud-kms20160120")
    return Client(mamori_credentials.config())
