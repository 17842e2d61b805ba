"""``mamori aap`` against a running server: an operator sets up an AAP and takes a client key
to a 0600 file, with the private key never on the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from mamori.crypto.client_key import load_client_key_content
from tests.conftest import ROOT, ServerProcess

PASSWORD = "Cli-passw0rd-2468"


def mamori(
    server: ServerProcess, *args: str, cwd: Path = ROOT, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``mamori aap`` against ``server``, as an operator on its machine would."""
    env = {**os.environ, "MAMORI_PORT": str(server.port), "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "mamori.cli", "aap", "--data-dir", str(server.data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        input=stdin,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_an_aap_and_a_client_key_file(server: ServerProcess, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    rule, policy, aap = f"r-{tag}", f"p-{tag}", f"a-{tag}"
    ok(mamori(server, "network-rules", "create", rule, "--source", "10.0.0.0/8",
              "--source", "127.0.0.1"))  # fmt: skip
    shown = json.loads(ok(mamori(server, "network-rules", "show", rule, "--json")).stdout)
    assert json.loads(shown["SourcePrivateIp"]) == ["10.0.0.0/8", "127.0.0.1"]
    ok(mamori(server, "policies", "create", policy, "--instance", "shared", "--permission", "key",
              "--permission", "secret", "--resource", "key/*", "--rule", rule))  # fmt: skip
    described = json.loads(ok(mamori(server, "policies", "show", policy, "--json")).stdout)
    assert described["Resources"] == ["key/*"] and len(described["Permissions"]) == 2
    ok(mamori(server, "create", aap, "--policy", policy, "--description", "from the CLI"))
    assert aap in ok(mamori(server, "list")).stdout
    assert policy in json.dumps(json.loads(ok(mamori(server, "show", aap, "--json")).stdout))

    (tmp_path / "pw").write_text(PASSWORD + "\n")
    out = tmp_path / "client.json"
    created = ok(mamori(server, "client-keys", "create", aap, "--out", str(out),
                        "--password-file", str(tmp_path / "pw")))  # fmt: skip
    document = out.read_text()
    assert out.stat().st_mode & 0o777 == 0o600
    key = load_client_key_content(document, PASSWORD)
    private_data = json.loads(document)["PrivateKeyData"]
    assert private_data not in created.stdout and private_data[:40] not in created.stdout
    assert PASSWORD not in created.stdout + created.stderr
    assert key.key_id in created.stdout and "password" in created.stdout.lower()
    listed = json.loads(ok(mamori(server, "client-keys", "list", "--aap", aap, "--json")).stdout)
    assert [k["ClientKeyId"] for k in listed] == [key.key_id]
    shown_key = json.loads(ok(mamori(server, "client-keys", "show", key.key_id, "--json")).stdout)
    assert shown_key["PublicKeyData"].startswith("-----BEGIN CERTIFICATE-----")

    # The password typed at the prompt (twice); the default file name; no overwriting.
    typed = ok(mamori(server, "client-keys", "create", aap, "--json", cwd=tmp_path,
                      stdin=f"{PASSWORD}\n{PASSWORD}\n"))  # fmt: skip
    answer = json.loads(typed.stdout[typed.stdout.index("{") :])
    default = tmp_path / f"clientKey_{answer['ClientKeyId']}.json"
    assert default.stat().st_mode & 0o777 == 0o600
    refused = mamori(server, "client-keys", "create", aap, "--out", str(out),
                     "--password-file", str(tmp_path / "pw"))  # fmt: skip
    assert refused.returncode != 0 and out.read_text() == document

    ok(mamori(server, "client-keys", "delete", key.key_id))
    ok(mamori(server, "delete", aap))
    ok(mamori(server, "policies", "delete", policy))
    ok(mamori(server, "network-rules", "delete", rule))


def test_a_refusal_is_reported_with_its_code(server: ServerProcess, tmp_path: Path) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    result = mamori(server, "policies", "create", name, "--instance", "shared",
                    "--permission", "key", "--resource", "key/*", "--rule", "no-such")  # fmt: skip
    assert result.returncode == 1 and "InvalidParameter" in result.stderr
    (tmp_path / "pw").write_text("short")
    weak = mamori(server, "client-keys", "create", "no-such-aap", "--out", str(tmp_path / "k"),
                  "--password-file", str(tmp_path / "pw"))  # fmt: skip
    assert weak.returncode == 1 and "InvalidParameter" in weak.stderr and "short" not in weak.stderr
    assert not (tmp_path / "k").exists()
    missing = mamori(server, "show", "no-such-aap")
    assert missing.returncode == 1 and "Forbidden.ResourceNotFound" in missing.stderr
