"""What the server says is data, never terminal markup or control: every value the CLI prints
(tables, messages, the server's errors) reaches the terminal as the characters it is, with
control characters made visible. Through the real entry point, against a real server."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator

import pytest

from mamori.client import Client
from mamori.client._base import RAM
from tests.cli.people import environ, run
from tests.conftest import ServerProcess

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

# Clear the screen, put "pwned" on the clipboard (OSC 52), a hidden link (OSC 8), a C1 CSI
# that turns text red, and Rich markup that would crash or vanish.
ESCAPES = "\x1b[2J\x1b]52;c;cHduZWQ=\x07\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\u009b31m"
SHOWN = r"\x1b[2J\x1b]52;c;cHduZWQ=\x07\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\x9b31m"
CONTROL = ("\x1b", "\x07", "\u009b")


def _wide() -> dict[str, str]:
    return {"COLUMNS": "2000"}


def _clean(text: str) -> None:
    for char in CONTROL:
        assert char not in text, repr(text)


@pytest.fixture
def admin(server: ServerProcess) -> Iterator[Client]:
    with Client(server.endpoint, server.access_key_id, server.access_key_secret) as client:
        yield client


def test_a_key_description_is_shown_as_text(server: ServerProcess, admin: Client) -> None:
    crash = admin.call("CreateKey", Description="[/] boom")["KeyMetadata"]["KeyId"]
    escapes = admin.call("CreateKey", Description=f"bad {ESCAPES} [b]x")["KeyMetadata"]["KeyId"]
    listed = run(server, "keys", "list", env=environ(server, **_wide()))
    assert listed.returncode == 0, listed.stderr  # MarkupError crashed it for everyone
    _clean(listed.stdout)
    assert "[/] boom" in listed.stdout and crash in listed.stdout
    assert f"bad {SHOWN} [b]x" in listed.stdout and escapes in listed.stdout
    described = run(server, "keys", "describe", escapes, env=environ(server, **_wide()))
    assert described.returncode == 0, described.stderr
    _clean(described.stdout)
    assert f"bad {SHOWN} [b]x" in described.stdout


def test_a_revealed_secret_value_is_shown_exactly(server: ServerProcess, admin: Client) -> None:
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    admin.call("CreateSecret", SecretName=name, VersionId="v1",
               SecretData=f"p4[ss]w0rd[b]x{ESCAPES}")  # fmt: skip
    got = run(server, "secrets", "get", name, "--reveal", env=environ(server, **_wide()))
    assert got.returncode == 0, got.stderr
    _clean(got.stdout)
    assert f"p4[ss]w0rd[b]x{SHOWN}" in got.stdout
    # --json is what scripts read: the exact value, and still no raw control character.
    as_json = run(server, "secrets", "get", name, "--reveal", "--json")
    _clean(as_json.stdout)
    assert json.loads(as_json.stdout)["SecretData"] == f"p4[ss]w0rd[b]x{ESCAPES}"


def test_iam_and_aap_show_descriptions_as_text(server: ServerProcess, admin: Client) -> None:
    policy = f"hostile{uuid.uuid4().hex[:8]}"
    document = (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:List*","Resource":"*"}]}'
    )
    admin.call("CreatePolicy", RAM, PolicyName=policy, PolicyDocument=document,
               Description=f"[/] {ESCAPES}")  # fmt: skip
    listed = run(server, "iam", "policies", "list", "--type", "Custom",
                 env=environ(server, **_wide()))  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    _clean(listed.stdout)
    assert f"[/] {SHOWN}" in listed.stdout
    rule = f"hostile{uuid.uuid4().hex[:8]}"
    admin.call("CreateNetworkRule", Name=rule, Type="Private", SourcePrivateIp='["10.0.0.0/8"]',
               Description=f"[/] {ESCAPES}")  # fmt: skip
    shown = run(server, "aap", "network-rules", "show", rule, env=environ(server, **_wide()))
    assert shown.returncode == 0, shown.stderr
    _clean(shown.stdout)
    assert f"[/] {SHOWN}" in shown.stdout


class _Hostile(http.server.BaseHTTPRequestHandler):
    """A server whose refusal carries markup and escape sequences in its code and message."""

    def do_POST(self) -> None:
        body = json.dumps(
            {"Code": f"Bad[b]{ESCAPES}", "Message": f"[/] {ESCAPES} [link=x]y", "RequestId": "r"}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *_args: object) -> None:
        pass


def test_the_servers_error_message_is_shown_as_text(server: ServerProcess) -> None:
    hostile = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=hostile.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"127.0.0.1:{hostile.server_address[1]}"
        result = run(server, "--endpoint", endpoint, "--protocol", "http", "keys", "list")
    finally:
        hostile.shutdown()
        hostile.server_close()
    assert result.returncode == 1
    _clean(result.stderr)
    assert result.stderr == f"Bad[b]{SHOWN}: [/] {SHOWN} [link=x]y\n"
