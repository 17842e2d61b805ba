"""A real ``mamori server`` (SQLite) and one headless Chromium for the console's tests.

The browser is Debian's ``chromium`` driven through its ``chromedriver`` (``make chromium``
installs both); it trusts the server's certificate by its public key hash alone, so nothing
else about TLS is relaxed. Without the browser the tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.compat.ram_helpers import unique
from tests.compat.sdk import new_sdk, ram_sdk
from tests.conftest import ServerProcess, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@dataclass(frozen=True)
class Identity:
    """An AccessKey to sign in with."""

    name: str
    access_key_id: str
    secret: str


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the console tests (the console is a transport: SQLite is enough)."""
    tmp = tmp_path_factory.mktemp("console")
    proc = ServerProcess(
        "sqlite", tmp / "data", f"sqlite:///{tmp / 'data' / 'mamori.db'}", free_port(), free_port()
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def base_url(console_server: ServerProcess) -> str:
    """Where the console is: the HTTPS listener."""
    return f"https://{console_server.tls_endpoint}"


@pytest.fixture(scope="session")
def admin(console_server: ServerProcess) -> Identity:
    """The administrator's AccessKey."""
    return Identity("root", console_server.access_key_id, console_server.access_key_secret)


@pytest.fixture(scope="session")
def admin_ram(console_server: ServerProcess) -> RamClient:
    """The official RAM SDK as the administrator."""
    s = console_server
    return ram_sdk(s.endpoint, s.access_key_id, s.access_key_secret)


@pytest.fixture(scope="session")
def admin_kms(console_server: ServerProcess):  # type: ignore[no-untyped-def]
    """The official KMS SDK as the administrator."""
    s = console_server
    return new_sdk(s.endpoint, s.access_key_id, s.access_key_secret)


def ram_user(admin_ram: RamClient, *policies: str) -> Identity:
    """A new RAM user with these system policies and one AccessKey."""
    name = unique("console")
    admin_ram.create_user(rm.CreateUserRequest(user_name=name))
    for policy in policies:
        admin_ram.attach_policy_to_user(
            rm.AttachPolicyToUserRequest(policy_type="System", policy_name=policy, user_name=name)
        )
    key = admin_ram.create_access_key(rm.CreateAccessKeyRequest(user_name=name)).body.access_key
    return Identity(name, key.access_key_id, key.access_key_secret)


@pytest.fixture(scope="session")
def crypto_user(admin_ram: RamClient) -> Identity:
    """A RAM user with only ``AliyunKMSCryptoUserAccess``."""
    return ram_user(admin_ram, "AliyunKMSCryptoUserAccess")


CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SIGNIN_TOKEN = re.compile(r'name="signin_token" value="([^"]+)"')


def https_client(server: ServerProcess, **options: Any) -> httpx.Client:
    """An HTTP client of the HTTPS listener, trusting Mamori's CA, whose posts carry the
    console's own Origin (as a browser's from the console's pages do)."""
    base = f"https://{server.tls_endpoint}"
    return httpx.Client(
        base_url=base,
        verify=ssl.create_default_context(cafile=str(server.ca_file)),
        timeout=10,
        headers={"Origin": base},
        **options,
    )


def post_sign_in(client: httpx.Client, access_key_id: str, secret: str) -> httpx.Response:
    """The sign-in form fetched and posted as a browser does, with ``client``'s cookies."""
    form = client.get("/console/sign-in")
    match = SIGNIN_TOKEN.search(form.text)
    assert form.status_code == 200 and match is not None, form.text
    return client.post(
        "/console/sign-in",
        data={
            "access_key_id": access_key_id,
            "access_key_secret": secret,
            "signin_token": match.group(1),
        },
    )


def sign_in(server: ServerProcess, who: Identity) -> tuple[httpx.Client, str]:
    """A client holding a session of ``who``, and that session's CSRF token."""
    client = https_client(server)
    answer = post_sign_in(client, who.access_key_id, who.secret)
    assert answer.status_code == 303, answer.text
    page = client.get("/console/keys")
    match = CSRF.search(page.text)
    assert match is not None
    return client, match.group(1)


def _spki_hash(cert_file: Path) -> str:
    leaf = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    spki = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="session")
def browser(console_server: ServerProcess) -> Iterator[object]:
    """One headless Chromium for the session, trusting only the server's own certificate."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = "chromium and chromedriver are needed (make chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mamori-chromium-")
    pin = _spki_hash(console_server.data_dir / "tls" / "server.pem")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,860",
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={pin}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go."""
    return tmp_path_factory.mktemp("console-screenshots")
