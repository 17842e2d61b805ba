"""Rds secrets through the official SDKs (new and old): rotation really changes passwords on the
machine's PostgreSQL and MariaDB, single-user and dual-account, with and without an admin
secret."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501.client import Client as RamClient
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.CreateSecretRequest import CreateSecretRequest
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest
from aliyunsdkkms.request.v20160120.PutSecretValueRequest import PutSecretValueRequest
from aliyunsdkkms.request.v20160120.RotateSecretRequest import RotateSecretRequest

from tests import databases as dbs
from tests.compat.ram_helpers import allow, doc, grant, new_user
from tests.compat.sdk import OldSdk, expect_error
from tests.conftest import ServerProcess

# (engine, SecretSubType, whether an admin secret changes the passwords)
CASES = [
    ("postgresql", "SingleUser", False),
    ("postgresql", "DoubleUsers", True),
    ("mysql", "SingleUser", True),
    ("mysql", "DoubleUsers", False),
]


def unique() -> str:
    return f"rds/{uuid.uuid4().hex[:12]}"


def _url(engine: str) -> str:
    return dbs.PG_URL if engine == "postgresql" else dbs.MYSQL_URL


def _admin_secret(kms: Client, engine: str) -> str:
    name = unique()
    admin = dbs.PG_ADMIN if engine == "postgresql" else dbs.MYSQL_ADMIN
    kms.create_secret(
        km.CreateSecretRequest(secret_name=name, version_id="v1", secret_data=json.dumps(admin))
    )
    return name


def create_rds(
    kms: Client,
    engine: str,
    subtype: str,
    accounts: list[tuple[str, str]],
    admin: str | None = None,
    **extra: Any,
) -> str:
    """An Rds secret for these accounts; its name."""
    name = unique()
    config: dict[str, Any] = {"SecretSubType": subtype, "DBInstanceId": _url(engine), **extra}
    if admin:
        config["AdminSecretName"] = admin
    kms.create_secret(
        km.CreateSecretRequest(
            secret_name=name,
            version_id="v1",
            secret_type="Rds",
            secret_data=json.dumps(
                {"Accounts": [{"AccountName": n, "AccountPassword": p} for n, p in accounts]}
            ),
            extended_config=config,
        )
    )
    return name


def value(kms: Client, name: str, stage: str = "ACSCurrent") -> tuple[str, str, str]:
    """(version id, account name, password) of a stage."""
    body = kms.get_secret_value(
        km.GetSecretValueRequest(secret_name=name, version_stage=stage)
    ).body
    data = json.loads(body.secret_data)
    assert body.secret_type == "Rds"
    return body.version_id, data["AccountName"], data["AccountPassword"]


@pytest.mark.parametrize(("engine", "subtype", "with_admin"), CASES)
def test_rotation_changes_the_database_password(
    kms: Client, engine: str, subtype: str, with_admin: bool
) -> None:
    first, second = dbs.account_name(), dbs.account_name()
    pairs = [(first, "Initial-1a!")] + (
        [(second, "Initial-2b!")] if subtype == "DoubleUsers" else []
    )
    with dbs.accounts(engine, *pairs):
        admin = _admin_secret(kms, engine) if with_admin else None
        name = create_rds(kms, engine, subtype, pairs, admin, PasswordLength="20")
        assert value(kms, name) == ("v1", first, "Initial-1a!")

        kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v2"))
        version, account, password = value(kms, name)
        assert version == "v2" and len(password) == 20
        assert dbs.has_password(engine, account, password)
        previous = value(kms, name, "ACSPrevious")
        assert previous[0] == ("v1" if subtype == "SingleUser" else previous[0])
        if subtype == "SingleUser":
            assert account == first
            assert not dbs.has_password(engine, first, "Initial-1a!")
        else:
            # The standby account took over; the old current one keeps working as ACSPrevious.
            assert account == second and previous == ("v1", first, "Initial-1a!")
            assert dbs.has_password(engine, first, "Initial-1a!")

        kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v3"))
        version3, account3, password3 = value(kms, name)
        assert version3 == "v3" and dbs.has_password(engine, account3, password3)
        assert value(kms, name, "ACSPrevious") == ("v2", account, password)
        assert account3 == first
        if subtype == "DoubleUsers":
            assert dbs.has_password(engine, second, password)
        else:
            assert not dbs.has_password(engine, first, password)

        # Repeating a version id is a no-op, as for every RotateSecret.
        kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v2"))
        assert value(kms, name)[0] == "v3"


@pytest.mark.parametrize("retry_same_id", [True, False])
def test_a_failed_rotation_keeps_acscurrent_and_resumes(kms: Client, retry_same_id: bool) -> None:
    user = dbs.account_name()
    with dbs.mysql_accounts((user, "Known-1a!")):
        name = create_rds(kms, "mysql", "SingleUser", [(user, "Known-1a!")])
        # Someone changes the password behind Mamori's back: it can no longer log in.
        dbs.set_password("mysql", user, "Changed-elsewhere-2b")
        expect_error(
            "Rejected.RotationFailed",
            409,
            lambda: kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id="v2")),
        )
        assert value(kms, name) == ("v1", user, "Known-1a!")
        versions = kms.list_secret_version_ids(
            km.ListSecretVersionIdsRequest(secret_name=name, include_deprecated="true")
        ).body.version_ids.version_id
        assert {v.version_id: v.version_stages.version_stage for v in versions} == {
            "v1": ["ACSCurrent"],
            "v2": ["MamoriPending"],
        }

        # Once the secret's password works again, the next attempt finishes the same rotation,
        # whether it repeats the VersionId or names another.
        dbs.set_password("mysql", user, "Known-1a!")
        retry = "v2" if retry_same_id else "v3"
        reply = kms.rotate_secret(km.RotateSecretRequest(secret_name=name, version_id=retry))
        assert reply.body.version_id == "v2"
        version, account, password = value(kms, name)
        assert (version, account) == ("v2", user)
        assert dbs.mysql_logs_in(user, password) and not dbs.mysql_logs_in(user, "Known-1a!")


def test_managed_values_change_only_by_rotation(kms: Client) -> None:
    user = dbs.account_name()
    with dbs.pg_accounts((user, "Known-1a!")):
        name = create_rds(kms, "postgresql", "SingleUser", [(user, "Known-1a!")])
        expect_error(
            "Rejected.UnsupportedOperation",
            400,
            lambda: kms.put_secret_value(
                km.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data="x")
            ),
        )
        expect_error(
            "Rejected.UnsupportedOperation",
            400,
            lambda: kms.update_secret_version_stage(
                km.UpdateSecretVersionStageRequest(
                    secret_name=name, version_stage="Custom", move_to_version="v1"
                )
            ),
        )
        meta = kms.describe_secret(km.DescribeSecretRequest(secret_name=name)).body
        assert meta.secret_type == "Rds"
        assert json.loads(meta.extended_config)["SecretSubType"] == "SingleUser"


@pytest.mark.parametrize(
    ("config", "data", "param"),
    [
        ({"SecretSubType": "Triple", "DBInstanceId": dbs.PG_URL}, None, "ExtendedConfig"),
        ({"SecretSubType": "SingleUser", "DBInstanceId": "rm-uf6xyz"}, None, "ExtendedConfig"),
        (
            {"SecretSubType": "SingleUser", "DBInstanceId": "mysql://root:pw@127.0.0.1:3306"},
            None,
            "ExtendedConfig",
        ),
        ({"SecretSubType": "DoubleUsers", "DBInstanceId": dbs.PG_URL}, None, "SecretData"),
        ({"SecretSubType": "SingleUser", "DBInstanceId": dbs.PG_URL}, '{"user":"x"}', "SecretData"),
        (None, None, "ExtendedConfig"),
    ],
)
def test_bad_rds_secrets_are_refused(
    kms: Client, config: dict[str, str] | None, data: str | None, param: str
) -> None:
    name = unique()
    request = km.CreateSecretRequest(
        secret_name=name,
        version_id="v1",
        secret_type="Rds",
        secret_data=data
        or json.dumps({"Accounts": [{"AccountName": "a", "AccountPassword": "b"}]}),
    )
    if config is not None:
        request.extended_config = config
    error = expect_error("InvalidParameter", 400, lambda: kms.create_secret(request))
    assert param in str(error.message)
    expect_error(
        "Forbidden.ResourceNotFound",
        404,
        lambda: kms.describe_secret(km.DescribeSecretRequest(secret_name=name)),
    )


def test_old_sdk_creates_and_rotates_an_rds_secret(old: OldSdk) -> None:
    user = dbs.account_name()
    with dbs.pg_accounts((user, "Known-1a!")):
        name = unique()
        create = CreateSecretRequest()
        create.set_SecretName(name)
        create.set_VersionId("v1")
        create.set_SecretType("Rds")
        create.set_SecretData(
            json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "Known-1a!"}]})
        )
        create.set_ExtendedConfig(
            json.dumps({"SecretSubType": "SingleUser", "DBInstanceId": dbs.PG_URL})
        )
        assert old.call(create)["SecretType"] == "Rds"
        rotate = RotateSecretRequest()
        rotate.set_SecretName(name)
        rotate.set_VersionId("v2")
        assert old.call(rotate)["VersionId"] == "v2"
        read = GetSecretValueRequest()
        read.set_SecretName(name)
        data = json.loads(old.call(read)["SecretData"])
        assert data["AccountName"] == user
        assert dbs.pg_has_password(user, data["AccountPassword"])

        put = PutSecretValueRequest()
        put.set_SecretName(name)
        put.set_VersionId("v3")
        put.set_SecretData("x")
        with pytest.raises(ServerException) as info:
            old.call(put)
        assert (info.value.get_error_code(), info.value.get_http_status()) == (
            "Rejected.UnsupportedOperation",
            400,
        )


def test_naming_an_admin_secret_needs_permission_to_read_it(
    kms: Client, ram: RamClient, server: ServerProcess
) -> None:
    admin = _admin_secret(kms, "postgresql")
    user = new_user(server, ram)
    grant(ram, user.name, doc(allow("kms:CreateSecret")))
    config = {"SecretSubType": "SingleUser", "DBInstanceId": dbs.PG_URL, "AdminSecretName": admin}
    data = json.dumps({"Accounts": [{"AccountName": "postgres", "AccountPassword": "x"}]})

    def create() -> None:
        user.kms.create_secret(
            km.CreateSecretRequest(
                secret_name=unique(),
                version_id="v1",
                secret_type="Rds",
                secret_data=data,
                extended_config=config,
            )
        )

    # Otherwise the user could take over the superuser through the admin's credentials.
    expect_error("Forbidden.NoPermission", 403, create)
    admin_arn = f"acs:kms:*:*:secret/{admin}"
    grant(ram, user.name, doc(allow("kms:GetSecretValue", admin_arn)))
    create()
