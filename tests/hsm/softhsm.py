"""Private SoftHSM2 tokens for tests: a config file and a token directory of their own, never the
system token directory. In CI (``CI=true``) a missing SoftHSM2 fails the run instead of skipping."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mamori.hsm import find_module

PIN = "1234-test-pin"
SO_PIN = "5678-test-so-pin"


@dataclass(frozen=True)
class SoftHsm:
    """One initialised SoftHSM2 token and the environment that finds it."""

    conf: Path
    module: Path
    label: str
    pin: str = PIN

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to see this token (SoftHSM2 reads ``SOFTHSM2_CONF``)."""
        return {"SOFTHSM2_CONF": str(self.conf)}

    def server_env(self, *, pin: str | None = None, label: str | None = None) -> dict[str, str]:
        """Environment for ``mamori server`` to use this token for HSM keys."""
        return {
            **self.env,
            "MAMORI_HSM_MODULE": str(self.module),
            "MAMORI_HSM_TOKEN_LABEL": label or self.label,
            "MAMORI_HSM_PIN": self.pin if pin is None else pin,
        }


def require_softhsm() -> tuple[str, Path]:
    """``softhsm2-util`` and the module, or skip (fail in CI) when SoftHSM2 is not installed."""
    util = shutil.which("softhsm2-util")
    module = find_module()
    if util is None or module is None:
        message = "SoftHSM2 is not installed (apt-get install softhsm2; `make test` does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"SoftHSM2 is required in CI: {message}")
        pytest.skip(message)
    return util, module


def make_token(directory: Path, label: str | None = None) -> SoftHsm:
    """Initialise a fresh token in ``directory`` (created 0700, config 0600)."""
    util, module = require_softhsm()
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, mode=0o700)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    conf.chmod(0o600)
    label = label or f"mamori-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    return SoftHsm(conf, module, label)


_PROBE = textwrap.dedent(
    """
    import json, sys
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11 import exceptions as p11

    module, token_label, pin, label, kind = sys.argv[1:6]
    classes = {
        "secret": ObjectClass.SECRET_KEY,
        "private": ObjectClass.PRIVATE_KEY,
        "public": ObjectClass.PUBLIC_KEY,
    }
    session = pkcs11.lib(module).get_token(token_label=token_label).open(user_pin=pin, rw=True)
    found = list(session.get_objects({Attribute.LABEL: label, Attribute.CLASS: classes[kind]}))
    out = {"count": len(found)}
    if found and kind != "public":
        key = found[0]
        out["id"] = bytes(key[Attribute.ID]).decode()
        out["extractable"] = key[Attribute.EXTRACTABLE]
        out["sensitive"] = key[Attribute.SENSITIVE]
        out["never_extractable"] = key[Attribute.NEVER_EXTRACTABLE]
        out["always_sensitive"] = key[Attribute.ALWAYS_SENSITIVE]
        out["token"] = key[Attribute.TOKEN]
        if kind == "secret":
            out["bits"] = key[Attribute.VALUE_LEN] * 8
        # The secret itself: CKA_VALUE, or an RSA key's private exponent and primes.
        secret = [Attribute.VALUE]
        if key[Attribute.KEY_TYPE] == KeyType.RSA:
            secret = [Attribute.PRIVATE_EXPONENT, Attribute.PRIME_1, Attribute.PRIME_2]
        refusals = set()
        for attribute in secret:
            try:
                key[attribute]
                refusals.add("READABLE")
            except p11.PKCS11Error as exc:
                refusals.add(type(exc).__name__)
        out["value"] = "/".join(sorted(refusals))
        # The other way out of a token: wrap it under a key we control. Must be refused too.
        wrapper = session.generate_key(KeyType.AES, 256, label="probe-wrapper", store=False)
        try:
            wrapper.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
            out["wrap"] = "WRAPPED"
        except p11.PKCS11Error as exc:
            out["wrap"] = type(exc).__name__
    print(json.dumps(out))
    """
)


def probe(token: SoftHsm, label: str, kind: str = "secret") -> dict[str, Any]:
    """Open ``token`` with python-pkcs11 in a separate process (SoftHSM2 reads its config once
    per process) and report what the object labelled ``label`` of ``kind`` (``secret``,
    ``private`` or ``public``) lets anyone read."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(token.module), token.label, token.pin, label, kind],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **token.env},
    )
    return dict(json.loads(result.stdout))
