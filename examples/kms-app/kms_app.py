"""An application's use of KMS: its configuration is stored encrypted under a KMS key, with the
environment as EncryptionContext, so a staging blob cannot be opened as production's."""

from __future__ import annotations

import base64
import json
from typing import Any

from alibabacloud_kms20160120 import models
from alibabacloud_kms20160120.client import Client


def create_config_key(kms: Client, alias: str) -> str:
    """Create the key that protects configuration, named ``alias``; its id."""
    made = kms.create_key(models.CreateKeyRequest(description="app config"))
    key_id: str = made.body.key_metadata.key_id
    kms.create_alias(models.CreateAliasRequest(alias_name=alias, key_id=key_id))
    return key_id


def seal_config(kms: Client, alias: str, config: dict[str, Any], environment: str) -> str:
    """The configuration as a KMS ciphertext blob bound to ``environment``."""
    plaintext = base64.b64encode(json.dumps(config).encode()).decode()
    answer = kms.encrypt(
        models.EncryptRequest(
            key_id=alias,
            plaintext=plaintext,
            encryption_context={"environment": environment},
        )
    )
    blob: str = answer.body.ciphertext_blob
    return blob


def open_config(kms: Client, blob: str, environment: str) -> dict[str, Any]:
    """The configuration sealed by ``seal_config`` for ``environment``."""
    answer = kms.decrypt(
        models.DecryptRequest(ciphertext_blob=blob, encryption_context={"environment": environment})
    )
    config: dict[str, Any] = json.loads(base64.b64decode(answer.body.plaintext))
    return config
