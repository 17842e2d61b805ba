"""A SoftHSM2 token for the session, and a real ``mamori server`` per store backend using it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pkcs11
import pytest
from alibabacloud_kms20160120.client import Client
from pkcs11 import Attribute, ObjectClass

from mamori.hsm import HsmConfig, Token
from tests.compat.sdk import OldSdk, new_sdk
from tests.conftest import ServerProcess, _store_url, drop_pg_database, free_port
from tests.hsm.softhsm import SoftHsm, make_token


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """One private token for the session's HSM servers."""
    return make_token(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="session")
def token(softhsm: SoftHsm) -> Iterator[Token]:
    """The session token opened in this process. SoftHSM2 reads SOFTHSM2_CONF once, when a
    process first initialises the module, and a process logs in once: every in-process test
    shares this one."""
    os.environ.update(softhsm.env)
    opened = Token.open(HsmConfig(softhsm.module, softhsm.label, softhsm.pin))
    yield opened
    opened.close()


def token_labels(
    softhsm: SoftHsm, prefix: str, kind: ObjectClass = ObjectClass.SECRET_KEY
) -> set[str]:
    """Labels of the ``kind`` objects in the session token that start with ``prefix`` (read
    through a second session: the private ones need the ``token`` fixture's login)."""
    session = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.label).open()
    try:
        found = session.get_objects({Attribute.CLASS: kind})
        return {str(o.label) for o in found if str(o.label).startswith(prefix)}
    finally:
        session.close()


@pytest.fixture(scope="session")
def hsm_server(
    backend: str, softhsm: SoftHsm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server whose HSM keys live in ``softhsm`` (root key still in a file)."""
    tmp = tmp_path_factory.mktemp(f"mamori-hsm-{backend}")
    url, pg = _store_url(backend, tmp)
    proc = ServerProcess(
        backend, tmp / "data", url, free_port(), free_port(), env=softhsm.server_env()
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        if pg is not None:
            drop_pg_database(pg)


@pytest.fixture(scope="session")
def hsm_kms(hsm_server: ServerProcess) -> Client:
    """The new SDK against the HSM server."""
    return new_sdk(hsm_server.endpoint, hsm_server.access_key_id, hsm_server.access_key_secret)


@pytest.fixture(scope="session")
def hsm_old(hsm_server: ServerProcess) -> OldSdk:
    """The old SDK against the HSM server."""
    return OldSdk(hsm_server.endpoint, hsm_server.access_key_id, hsm_server.access_key_secret)
