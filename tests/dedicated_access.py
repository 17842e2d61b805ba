"""Access to the dedicated gateway as an operator sets it up for one application, with the
official KMS SDK (instance → keys and secrets in it → network rule, policy, AAP, client key),
and the client key saved as the files an application is given: the ClientKeyContent JSON and
its password file (both 0600)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from alibabacloud_kms20160120 import models as km

from tests.compat.instance_helpers import generic, new_instance
from tests.compat.instance_sdks import Access, grant, unique
from tests.compat.sdk import new_sdk
from tests.conftest import ServerProcess


@dataclass
class Dedicated:
    """An instance, what the client key may use in it, and what it may not."""

    instance: str
    key_id: str  # AES-256, in the policy
    sign_key_id: str  # RSA_2048 SIGN/VERIFY, in the policy
    outside_key_id: str  # AES-256, not in the policy
    secret: str  # in the policy; its value is SECRET_VALUE
    other_secret: str  # not in the policy
    access: Access
    key_file: Path
    password_file: Path


SECRET_VALUE = "dedicated-s3cr3t"


def _write_private(path: Path, text: str) -> Path:
    path.touch(mode=0o600)
    path.write_text(text)
    return path


def save_client_key(access: Access, directory: Path) -> tuple[Path, Path]:
    """The ClientKeyContent file and the password file an application is handed."""
    key_file = _write_private(directory / f"clientKey_{access.client_key_id}.json", access.content)
    password_file = _write_private(
        directory / f"clientKey_{access.client_key_id}_Password.txt", access.password + "\n"
    )
    return key_file, password_file


def dedicated_access(server: ServerProcess, directory: Path, *, spec: int = 100_000) -> Dedicated:
    """A new instance of QPS ``spec`` with keys and secrets, and a client key for some."""
    kms = new_sdk(server.endpoint, server.access_key_id, server.access_key_secret)
    instance = new_instance(generic(server), Spec=spec)

    def key(spec: str = "Aliyun_AES_256", usage: str = "") -> str:
        request = km.CreateKeyRequest(key_spec=spec, dkmsinstance_id=instance)
        if usage:
            request.key_usage = usage
        return str(kms.create_key(request).body.key_metadata.key_id)

    def secret(value: str) -> str:
        name = unique("dedicated")
        kms.create_secret(
            km.CreateSecretRequest(
                secret_name=name, secret_data=value, version_id="v1", dkmsinstance_id=instance
            )
        )
        return name

    key_id, sign_key_id, outside = key(), key("RSA_2048", "SIGN/VERIFY"), key()
    allowed, other = secret(SECRET_VALUE), secret(json.dumps({"not": "yours"}))
    access = grant(kms, instance, [f"key/{key_id}", f"key/{sign_key_id}", f"secret/{allowed}"])
    key_file, password_file = save_client_key(access, directory)
    return Dedicated(
        instance, key_id, sign_key_id, outside, allowed, other, access, key_file, password_file
    )
