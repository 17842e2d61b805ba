"""The agent, the client (both gateways' transports) and the envelope helper stand apart from
the server (DESIGN §2): importing them loads no server package; the instance API's messages
come from the neutral ``mamori.wire``."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

SERVER = ("mamori.core", "mamori.store", "mamori.iam", "mamori.api", "mamori.gateway",
          "mamori.seal", "mamori.hsm", "mamori.audit", "mamori.app", "mamori.config")  # fmt: skip

SCRIPT = """
import json, sys
import mamori.agent.serve, mamori.agent.app, mamori.cli.agent, mamori.envelope, mamori.client
print(json.dumps(sorted(m for m in sys.modules if m.startswith("mamori"))))
"""


def test_no_server_code_is_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert {"mamori.agent.serve", "mamori.client._instance", "mamori.wire.instance"} <= set(loaded)
    assert [m for m in loaded if m.startswith(SERVER)] == []
