"""Login CSRF on the plain-HTTP console, in a real Chromium: a page of another site must not sign
the victim's browser in as the attacker's principal.

Browsers send no ``Sec-Fetch-*`` headers to an origin that is not potentially trustworthy
(plain HTTP to anything but localhost), so the console is reached here as
``http://console.test:PORT`` (Chromium's host resolver maps the name to 127.0.0.1), and the
attacker's page is served from ``http://evil.test:PORT``.
"""

from __future__ import annotations

import http.server
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from alibabacloud_ram20150501.client import Client as RamClient

from tests.compat.sdk import ram_sdk
from tests.conftest import ServerProcess, sqlite_server
from tests.gateway.console.conftest import CHROMEDRIVER, CHROMIUM, Identity, ram_user
from tests.gateway.console.test_browser import _by, _wait

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def http_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that serves the console on plain HTTP too (console_http)."""
    tmp = tmp_path_factory.mktemp("console-http")
    proc = sqlite_server(tmp, env={"MAMORI_CONSOLE_HTTP": "true"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def attacker(http_console: ServerProcess) -> Identity:
    """The attacker's own AccessKey: a RAM user it controls on the same server."""
    s = http_console
    ram: RamClient = ram_sdk(s.endpoint, s.access_key_id, s.access_key_secret)
    return ram_user(ram, "AliyunKMSReadOnlyAccess")


@pytest.fixture(scope="module")
def plain_browser() -> Iterator[Any]:
    """A headless Chromium that resolves console.test and evil.test to 127.0.0.1."""
    import os

    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromedriver are needed (make chromium)")
        pytest.skip("chromium and chromedriver are needed (make chromium)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mamori-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        "--host-resolver-rules=MAP console.test 127.0.0.1, MAP evil.test 127.0.0.1",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _attack_page(console: str, who: Identity) -> bytes:
    """The attacker's page: no referrer (so the browser sends ``Origin: null``), and a form
    that signs in with the attacker's AccessKey, submitted as soon as the page loads."""
    return f"""<!doctype html>
<html><head><meta name="referrer" content="no-referrer"></head>
<body>
<form id="f" method="post" action="{console}/console/sign-in">
  <input name="access_key_id" value="{who.access_key_id}">
  <input name="access_key_secret" value="{who.secret}">
</form>
<script>document.getElementById("f").submit();</script>
</body></html>""".encode()


@pytest.fixture
def evil_site(http_console: ServerProcess, attacker: Identity) -> Iterator[str]:
    console = f"http://console.test:{http_console.port}"
    page = _attack_page(console, attacker)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://evil.test:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_cannot_sign_the_browser_in_as_its_principal(
    plain_browser: Any, http_console: ServerProcess, attacker: Identity, evil_site: str
) -> None:
    driver = plain_browser
    console = f"http://console.test:{http_console.port}"
    driver.delete_all_cookies()
    driver.get(evil_site)
    _wait(lambda: urlparse(driver.current_url).hostname == "console.test", "the form's post")
    # The victim opens the console afterwards, in the same browser.
    driver.get(f"{console}/console/keys")
    assert attacker.name not in driver.page_source
    assert urlparse(driver.current_url).path == "/console/sign-in"


def test_the_consoles_own_forms_work_on_plain_http(
    plain_browser: Any, http_console: ServerProcess
) -> None:
    driver = plain_browser
    console = f"http://console.test:{http_console.port}"
    driver.delete_all_cookies()
    driver.get(f"{console}/console/sign-in")
    _by(driver, "#access_key_id").send_keys(http_console.access_key_id)
    _by(driver, "#access_key_secret").send_keys(http_console.access_key_secret)
    _by(driver, "#sign-in").click()
    _wait(lambda: urlparse(driver.current_url).path == "/console/keys", "the key list")
    # A state change through a plain form post (Origin must be this console's own).
    _by(driver, "#create-key-panel summary").click()
    _by(driver, "#Description").send_keys("made over plain http")
    _by(driver, "#create-key-submit").click()
    _wait(lambda: "/console/keys/key-" in driver.current_url, "the new key's page")
    assert "Created key key-" in _by(driver, "#flash").text
    _by(driver, "#sign-out").click()
    _wait(lambda: urlparse(driver.current_url).path == "/console/sign-in", "the sign-in page")
