"""Secret values are never stored in the clear: the raw database files are scanned for a
sentinel that went in through CreateSecret and PutSecretValue (text and binary), and for the
passwords of an Rds secret before and after a rotation."""

from __future__ import annotations

import base64
import json
import os

from alibabacloud_kms20160120 import models as km

from tests import databases as dbs
from tests.compat.sdk import new_sdk
from tests.conftest import ServerProcess
from tests.store.test_at_rest import _raw_files


def test_secret_values_are_not_stored_in_the_clear(fresh_server: ServerProcess) -> None:
    kms = new_sdk(fresh_server.endpoint, fresh_server.access_key_id, fresh_server.access_key_secret)
    sentinel = "mamori-secret-sentinel-" + os.urandom(8).hex()
    binary = b"mamori-binary-sentinel-" + os.urandom(8).hex().encode()
    kms.create_secret(
        km.CreateSecretRequest(secret_name="at-rest", version_id="v1", secret_data=sentinel)
    )
    kms.put_secret_value(
        km.PutSecretValueRequest(
            secret_name="at-rest",
            version_id="v2",
            secret_data=base64.b64encode(binary).decode(),
            secret_data_type="binary",
        )
    )
    assert (
        kms.get_secret_value(km.GetSecretValueRequest(secret_name="at-rest")).body.secret_data
        == base64.b64encode(binary).decode()
    )
    files = _raw_files(fresh_server)
    raw = b"".join(p.read_bytes() for p in files)
    # The scan can see what is there: the secret's name is stored in the clear.
    assert b"at-rest" in raw
    for what, needle in {
        "text value": sentinel.encode(),
        "binary value": binary,
        "binary value (base64)": base64.b64encode(binary),
    }.items():
        assert needle not in raw, f"{what} is stored in the clear"


def test_managed_credentials_are_not_stored_in_the_clear(fresh_server: ServerProcess) -> None:
    kms = new_sdk(fresh_server.endpoint, fresh_server.access_key_id, fresh_server.access_key_secret)
    user, initial = dbs.account_name(), "Sentinel-" + os.urandom(8).hex()
    with dbs.mysql_accounts((user, initial)):
        kms.create_secret(
            km.CreateSecretRequest(
                secret_name="rds-at-rest",
                version_id="v1",
                secret_type="Rds",
                secret_data=json.dumps(
                    {"Accounts": [{"AccountName": user, "AccountPassword": initial}]}
                ),
                extended_config={"SecretSubType": "SingleUser", "DBInstanceId": dbs.MYSQL_URL},
            )
        )
        kms.rotate_secret(km.RotateSecretRequest(secret_name="rds-at-rest", version_id="v2"))
        rotated = json.loads(
            kms.get_secret_value(
                km.GetSecretValueRequest(secret_name="rds-at-rest")
            ).body.secret_data
        )["AccountPassword"]
    raw = b"".join(p.read_bytes() for p in _raw_files(fresh_server))
    assert user.encode() not in raw, "the account name is inside the sealed value only"
    for what, needle in {"initial password": initial, "rotated password": rotated}.items():
        assert needle.encode() not in raw, f"{what} is stored in the clear"
