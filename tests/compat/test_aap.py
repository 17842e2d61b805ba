"""Application access points through the official new SDK: network rules, AAP policies (the
2016-01-20 CreatePolicy, next to RAM's), AAPs and client keys; every documented refusal, and
nothing left behind by one."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client
from alibabacloud_ram20150501 import models as rm
from alibabacloud_ram20150501.client import Client as RamClient
from cryptography import x509

from mamori.gateway.instance.signature import check_freshness, read_claim, verify
from tests.compat.ram_helpers import RamUser, allow, doc, grant, new_user, unique
from tests.compat.sdk import expect_error
from tests.conftest import ServerProcess
from tests.gateway.instance.dkms import dkms_python, run_sdk, unb64

__all__ = ["dkms_python"]  # the fixture, imported for use here

INVALID = ("InvalidParameter", 400)
MISSING = ("MissingParameter", 400)
NOT_FOUND = ("Forbidden.ResourceNotFound", 404)
TAKEN = ("Rejected.ResourceExist", 409)
KEY_USER = "RbacPermission/Template/CryptoServiceKeyUser"
SECRET_USER = "RbacPermission/Template/CryptoServiceSecretUser"
# Well-formed, but no instance of the account has this id.
UNKNOWN_INSTANCE = "kst-abcdefghij0123456789a"


def instance_of(kms: Client) -> str:
    """The account's default KMS instance, which a policy's KmsInstance must name."""
    return str(kms.get_default_kms_instance().body.default_kms_instance_id)


PASSWORD = "Passw0rd-for-tests"


def j(value: Any) -> str:
    return json.dumps(value)


def new_rule(kms: Client, sources: str = '["127.0.0.1","10.0.0.0/8"]') -> str:
    name = unique("rule")
    kms.create_network_rule(
        km.CreateNetworkRuleRequest(name=name, type="Private", source_private_ip=sources)
    )
    return name


def new_policy(kms: Client, rules: list[str], resources: list[str] | None = None) -> str:
    name = unique("policy")
    kms.create_policy(
        km.CreatePolicyRequest(
            name=name,
            kms_instance=instance_of(kms),
            permissions=j([KEY_USER]),
            resources=j(resources or ["key/*"]),
            access_control_rules=j({"NetworkRules": rules}),
        )
    )
    return name


def new_aap(kms: Client, policies: list[str]) -> str:
    name = unique("aap")
    kms.create_application_access_point(
        km.CreateApplicationAccessPointRequest(
            name=name, authentication_method="ClientKey", policies=j(policies)
        )
    )
    return name


@pytest.fixture
def aap(kms: Client) -> str:
    return new_aap(kms, [new_policy(kms, [new_rule(kms)])])


def new_client_key(kms: Client, aap: str, **validity: str) -> km.CreateClientKeyResponseBody:
    request = km.CreateClientKeyRequest(aap_name=aap, password=PASSWORD, **validity)
    body: km.CreateClientKeyResponseBody = kms.create_client_key(request).body
    return body


# -- the walk-through ------------------------------------------------------------------------------


def test_network_rules(kms: Client) -> None:
    name = unique("rule")
    created = kms.create_network_rule(
        km.CreateNetworkRuleRequest(
            name=name, type="Private", source_private_ip="192.168.1.0/24, 10.1.2.3",
            description="office",
        )
    ).body  # fmt: skip
    assert created.name == name and created.type == "Private"
    assert created.arn.startswith("acs:kms:") and created.arn.endswith(f":network/{name}")
    assert json.loads(created.source_private_ip) == ["192.168.1.0/24", "10.1.2.3"]
    described = kms.describe_network_rule(km.DescribeNetworkRuleRequest(name=name)).body
    assert (described.arn, described.description, described.type) == (
        created.arn, "office", "Private",
    )  # fmt: skip
    assert described.source_private_ip == created.source_private_ip
    kms.update_network_rule(
        km.UpdateNetworkRuleRequest(name=name, source_private_ip='["fd00::/8","10.0.0.1"]')
    )
    described = kms.describe_network_rule(km.DescribeNetworkRuleRequest(name=name)).body
    assert json.loads(described.source_private_ip) == ["fd00::/8", "10.0.0.1"]
    assert described.description == "office"
    listed = kms.list_network_rules(km.ListNetworkRulesRequest(page_size=100)).body
    assert {"Name": name, "Type": "Private"} in [
        r.to_map() for r in listed.network_rules.network_rule
    ]
    assert listed.page_number == 1 and listed.page_size == 100 and listed.total_count >= 1
    kms.delete_network_rule(km.DeleteNetworkRuleRequest(name=name))
    expect_error(*NOT_FOUND, lambda: kms.describe_network_rule(
        km.DescribeNetworkRuleRequest(name=name)
    ))  # fmt: skip


def test_policies_next_to_ram_policies(kms: Client, ram: RamClient) -> None:
    rule = new_rule(kms)
    name = unique("policy")
    created = kms.create_policy(
        km.CreatePolicyRequest(
            name=name,
            kms_instance=instance_of(kms),
            permissions=j([KEY_USER, SECRET_USER]),
            resources=j(["key/*", "secret/db-password", "alias/app"]),
            access_control_rules=j({"NetworkRules": [rule]}),
            description="app",
        )
    ).body
    assert created.arn.startswith("acs:kms:") and created.arn.endswith(f":policy/{name}")
    assert json.loads(created.permissions) == [KEY_USER, SECRET_USER]
    assert json.loads(created.access_control_rules) == {"NetworkRules": [rule]}
    described = kms.describe_policy(km.DescribePolicyRequest(name=name)).body
    # DescribePolicy's Permissions and Resources are arrays; CreatePolicy's are strings.
    assert described.permissions == [KEY_USER, SECRET_USER]
    assert described.resources == ["key/*", "secret/db-password", "alias/app"]
    assert (described.kms_instance, described.description) == (instance_of(kms), "app")
    kms.update_policy(
        km.UpdatePolicyRequest(name=name, permissions=j([SECRET_USER]), resources=j(["secret/*"]))
    )
    described = kms.describe_policy(km.DescribePolicyRequest(name=name)).body
    assert (described.permissions, described.resources) == ([SECRET_USER], ["secret/*"])
    assert json.loads(described.access_control_rules) == {"NetworkRules": [rule]}

    # RAM's CreatePolicy (2015-05-01) of the same name is another resource altogether.
    policy = doc(allow("kms:Encrypt"))
    ram.create_policy(rm.CreatePolicyRequest(policy_name=name, policy_document=policy))
    assert ram.get_policy(rm.GetPolicyRequest(policy_name=name, policy_type="Custom")).body
    names = [
        p.name
        for p in kms.list_policies(km.ListPoliciesRequest(page_size=100)).body.policies.policy
    ]
    assert name in names
    ram.delete_policy(rm.DeletePolicyRequest(policy_name=name))
    kms.delete_policy(km.DeletePolicyRequest(name=name))
    expect_error(*NOT_FOUND, lambda: kms.describe_policy(km.DescribePolicyRequest(name=name)))


def test_access_points(kms: Client) -> None:
    rule = new_rule(kms)
    first, second = new_policy(kms, [rule]), new_policy(kms, [rule])
    name = unique("aap")
    created = kms.create_application_access_point(
        km.CreateApplicationAccessPointRequest(name=name, policies=j([first]), description="d")
    ).body
    assert created.arn.endswith(f":applicationaccesspoint/{name}")
    assert (created.authentication_method, json.loads(created.policies)) == ("ClientKey", [first])
    kms.update_application_access_point(
        km.UpdateApplicationAccessPointRequest(name=name, policies=j([second, first]))
    )
    described = kms.describe_application_access_point(
        km.DescribeApplicationAccessPointRequest(name=name)
    ).body
    assert json.loads(described.policies) == [second, first] and described.description == "d"
    page = kms.list_application_access_points(
        km.ListApplicationAccessPointsRequest(page_number=1, page_size=1)
    ).body
    assert page.page_size == 1 and len(page.application_access_points.application_access_point) == 1
    assert page.total_count >= 1
    kms.delete_application_access_point(km.DeleteApplicationAccessPointRequest(name=name))
    expect_error(*NOT_FOUND, lambda: kms.describe_application_access_point(
        km.DescribeApplicationAccessPointRequest(name=name)
    ))  # fmt: skip


def test_client_keys(kms: Client, aap: str) -> None:
    created = new_client_key(
        kms, aap, not_before="2024-01-01T00:00:00Z", not_after="2034-01-01T00:00:00Z"
    )
    assert created.client_key_id.startswith("KAAP.") and created.key_algorithm == "RSA_2048"
    assert (created.not_before, created.not_after) == (
        "2024-01-01T00:00:00Z",
        "2034-01-01T00:00:00Z",
    )
    got = kms.get_client_key(km.GetClientKeyRequest(client_key_id=created.client_key_id)).body
    assert (got.aap_name, got.key_origin, got.key_algorithm) == (aap, "KMS_PROVIDED", "RSA_2048")
    cert = x509.load_pem_x509_certificate(got.public_key_data.encode())
    assert cert.not_valid_after_utc == datetime(2034, 1, 1, tzinfo=UTC)
    # Without NotBefore/NotAfter: from now, for five years.
    default = new_client_key(kms, aap)
    start = datetime.strptime(default.not_before, "%Y-%m-%dT%H:%M:%SZ")
    end = datetime.strptime(default.not_after, "%Y-%m-%dT%H:%M:%SZ")
    assert abs((datetime.now(UTC).replace(tzinfo=None) - start).total_seconds()) < 300
    assert end.year == start.year + 5
    listed = kms.list_client_keys(km.ListClientKeysRequest(aap_name=aap)).body.client_keys
    assert sorted(k.client_key_id for k in listed) == sorted(
        [created.client_key_id, default.client_key_id]
    )
    everywhere = kms.list_client_keys(km.ListClientKeysRequest()).body.client_keys
    assert {created.client_key_id, default.client_key_id} <= {k.client_key_id for k in everywhere}
    kms.delete_client_key(km.DeleteClientKeyRequest(client_key_id=created.client_key_id))
    expect_error(*NOT_FOUND, lambda: kms.get_client_key(
        km.GetClientKeyRequest(client_key_id=created.client_key_id)
    ))  # fmt: skip
    # Deleting the AAP deletes its client keys.
    kms.delete_application_access_point(km.DeleteApplicationAccessPointRequest(name=aap))
    expect_error(*NOT_FOUND, lambda: kms.get_client_key(
        km.GetClientKeyRequest(client_key_id=default.client_key_id)
    ))  # fmt: skip


# -- the ClientKeyContent ------------------------------------------------------------------------


def _content(created: km.CreateClientKeyResponseBody) -> str:
    return json.dumps({"KeyId": created.client_key_id, "PrivateKeyData": created.private_key_data})


def test_openssl_opens_the_pkcs12_with_the_password(kms: Client, aap: str, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("openssl is not installed")
        pytest.skip("openssl is not installed")
    created = new_client_key(kms, aap)
    p12 = tmp_path / "client.p12"
    p12.write_bytes(base64.b64decode(created.private_key_data))
    env = {**os.environ, "P12PASS": PASSWORD}
    opened = subprocess.run(
        ["openssl", "pkcs12", "-legacy", "-in", str(p12), "-nodes", "-passin", "env:P12PASS"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert "BEGIN PRIVATE KEY" in opened.stdout and f"CN = {created.client_key_id}" in opened.stdout
    env["P12PASS"] = "Wrong-passw0rd"
    wrong = subprocess.run(
        ["openssl", "pkcs12", "-legacy", "-in", str(p12), "-nodes", "-passin", "env:P12PASS"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert wrong.returncode != 0


def test_the_instance_sdk_loads_it_and_signs_what_get_client_key_verifies(
    kms: Client, aap: str, dkms_python: Path
) -> None:
    created = new_client_key(kms, aap)
    read = run_sdk(dkms_python, "pkcs12", pkcs12=created.private_key_data, password=PASSWORD)
    assert read["friendly_name"] == created.client_key_id and read["key_bits"] == 2048
    sent = run_sdk(
        dkms_python,
        "request",
        client_key_content=_content(created),
        password=PASSWORD,
        api="GetSecretValue",
        method="get_secret_value",
        args={"secret_name": "db-password", "version_stage": "ACSCurrent"},
    )
    pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent["headers"].items()]
    claim = read_claim(sent["method"], pairs, unb64(sent["body"]))
    assert claim.client_key_id == created.client_key_id
    check_freshness(claim, datetime.now(UTC))
    public = kms.get_client_key(km.GetClientKeyRequest(client_key_id=created.client_key_id))
    cert = x509.load_pem_x509_certificate(public.body.public_key_data.encode())
    verify(claim, cert.public_key())  # type: ignore[arg-type]


# -- refusals, each changing nothing -------------------------------------------------------------


def test_network_rule_refusals(kms: Client) -> None:
    name = unique("rule")

    def create(**fields: str) -> Any:
        request = {"name": name, "type": "Private", "source_private_ip": "10.0.0.1", **fields}
        return lambda: kms.create_network_rule(km.CreateNetworkRuleRequest(**request))

    bad_sources = ("10.0.0.0/33", "10.0.0.256", "10.0.0.1,", "host.example", '["10.0.0.1"',
                   "1.2.3.4/x", '["10.0.0.1","10.0.0.1"]', "010.0.0.1")  # fmt: skip
    for bad in bad_sources:
        error = expect_error(*INVALID, create(source_private_ip=bad))
        assert "SourcePrivateIp" in error.message, bad
    expect_error(*INVALID, create(source_private_ip=",".join(["10.0.0.1"] * 801)))
    expect_error(*INVALID, create(type="Public"))
    expect_error(*MISSING, create(type=""))
    expect_error(*MISSING, create(source_private_ip=""))
    expect_error(*INVALID, create(name="bad name"))
    expect_error(*NOT_FOUND, lambda: kms.describe_network_rule(
        km.DescribeNetworkRuleRequest(name=name)
    ))  # fmt: skip
    kms.create_network_rule(
        km.CreateNetworkRuleRequest(name=name, type="Private", source_private_ip="10.0.0.1")
    )
    expect_error(*TAKEN, create())
    expect_error(*INVALID, lambda: kms.update_network_rule(
        km.UpdateNetworkRuleRequest(name=name, source_private_ip="10.0.0.0/99")
    ))  # fmt: skip
    expect_error(*NOT_FOUND, lambda: kms.update_network_rule(
        km.UpdateNetworkRuleRequest(name=unique("none"), source_private_ip="10.0.0.1")
    ))  # fmt: skip
    described = kms.describe_network_rule(km.DescribeNetworkRuleRequest(name=name)).body
    assert json.loads(described.source_private_ip) == ["10.0.0.1"]
    # A rule a policy names cannot be deleted.
    policy = new_policy(kms, [name])
    error = expect_error(*INVALID, lambda: kms.delete_network_rule(
        km.DeleteNetworkRuleRequest(name=name)
    ))  # fmt: skip
    assert policy in error.message
    kms.describe_network_rule(km.DescribeNetworkRuleRequest(name=name))
    expect_error(*NOT_FOUND, lambda: kms.delete_network_rule(
        km.DeleteNetworkRuleRequest(name=unique("none"))
    ))  # fmt: skip


def test_policy_refusals(kms: Client) -> None:
    rule = new_rule(kms)
    name = unique("policy")
    good = {
        "name": name,
        "kms_instance": instance_of(kms),
        "permissions": j([KEY_USER]),
        "resources": j(["key/*"]),
        "access_control_rules": j({"NetworkRules": [rule]}),
    }

    def create(**fields: str) -> Any:
        return lambda: kms.create_policy(km.CreatePolicyRequest(**{**good, **fields}))

    cases = {
        "Permissions": [j(["RbacPermission/Template/CryptoServiceAdmin"]), j([]), j([KEY_USER] * 2),
                        "not json", j("x")],
        "Resources": [j(["key"]), j(["bucket/x"]), j([]), j(["key/*", "key/*"]), j([1])],
        "AccessControlRules": [j({"NetworkRules": [unique("none")]}), j({"Networks": [rule]}),
                               j({"NetworkRules": rule}), j([rule])],
        "KmsInstance": ["kst-short", "KST-ABCDEFGHIJ0123456789A", "default", UNKNOWN_INSTANCE],
    }  # fmt: skip
    field_of = {"AccessControlRules": "access_control_rules", "KmsInstance": "kms_instance"}
    for param, values in cases.items():
        for value in values:
            error = expect_error(*INVALID, create(**{field_of.get(param, param.lower()): value}))
            assert param in error.message, (param, value)
    expect_error(*MISSING, create(kms_instance=""))
    expect_error(*MISSING, create(permissions=""))
    expect_error(*INVALID, create(name="x" * 65))
    expect_error(*NOT_FOUND, lambda: kms.describe_policy(km.DescribePolicyRequest(name=name)))
    kms.create_policy(km.CreatePolicyRequest(**good))
    expect_error(*TAKEN, create())
    expect_error(*INVALID, lambda: kms.update_policy(
        km.UpdatePolicyRequest(name=name, access_control_rules=j({"NetworkRules": ["nope"]}),
                               resources=j(["secret/*"]))
    ))  # fmt: skip
    described = kms.describe_policy(km.DescribePolicyRequest(name=name)).body
    assert described.resources == ["key/*"]
    assert json.loads(described.access_control_rules) == {"NetworkRules": [rule]}
    # A policy an AAP names cannot be deleted; the shared scope is a valid instance.
    aap = new_aap(kms, [name])
    error = expect_error(*INVALID, lambda: kms.delete_policy(km.DeletePolicyRequest(name=name)))
    assert aap in error.message
    kms.create_policy(
        km.CreatePolicyRequest(**{**good, "name": unique("p"), "kms_instance": "shared"})
    )


def test_access_point_refusals(kms: Client) -> None:
    policy = new_policy(kms, [new_rule(kms)])
    name = unique("aap")

    def create(**fields: str) -> Any:
        request = {"name": name, "policies": j([policy]), **fields}
        return lambda: kms.create_application_access_point(
            km.CreateApplicationAccessPointRequest(**request)
        )

    for bad in (j([unique("none")]), j([policy, unique("none")]), j([]), j([policy] * 2),
                j([policy, "a", "b", "c"]), "[", j({"p": 1})):  # fmt: skip
        assert "Policies" in expect_error(*INVALID, create(policies=bad)).message, bad
    expect_error(*INVALID, create(authentication_method="RAMRole"))
    expect_error(*MISSING, create(policies=""))
    expect_error(*NOT_FOUND, lambda: kms.describe_application_access_point(
        km.DescribeApplicationAccessPointRequest(name=name)
    ))  # fmt: skip
    create()()
    expect_error(*TAKEN, create())
    expect_error(*INVALID, lambda: kms.update_application_access_point(
        km.UpdateApplicationAccessPointRequest(name=name, policies=j(["nope"]), description="x")
    ))  # fmt: skip
    described = kms.describe_application_access_point(
        km.DescribeApplicationAccessPointRequest(name=name)
    ).body
    assert json.loads(described.policies) == [policy] and described.description == ""
    expect_error(*NOT_FOUND, lambda: kms.delete_application_access_point(
        km.DeleteApplicationAccessPointRequest(name=unique("none"))
    ))  # fmt: skip


def test_client_key_refusals(kms: Client, aap: str) -> None:
    def create(**fields: str) -> Any:
        request = {"aap_name": aap, "password": PASSWORD, **fields}
        return lambda: kms.create_client_key(km.CreateClientKeyRequest(**request))

    for bad in ("Short1!", "x" * 65, "onlyletters", "12345678", "~!@#$%^&*", "spaces in 1",
                "pässwort12", "quote'1234"):  # fmt: skip
        error = expect_error(*INVALID, create(password=bad))
        assert "Password" in error.message and bad not in error.message
    expect_error(*MISSING, create(password=""))
    assert "NotAfter" in expect_error(*MISSING, create(not_before="2024-01-01T00:00:00Z")).message
    assert "NotBefore" in expect_error(*MISSING, create(not_after="2030-01-01T00:00:00Z")).message
    for start, end in (("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
                       ("2024-01-01", "2030-01-01T00:00:00Z"),
                       ("2024-01-01T00:00:00Z", "2030-02-30T00:00:00Z"),
                       ("2024-01-01T00:00:00+08:00", "2030-01-01T00:00:00Z")):  # fmt: skip
        expect_error(*INVALID, create(not_before=start, not_after=end))
    expect_error(*NOT_FOUND, create(aap_name=unique("none")))
    assert kms.list_client_keys(km.ListClientKeysRequest(aap_name=aap)).body.client_keys == []
    expect_error(*NOT_FOUND, lambda: kms.list_client_keys(
        km.ListClientKeysRequest(aap_name=unique("none"))
    ))  # fmt: skip
    for call in (kms.get_client_key, kms.delete_client_key):
        request = (
            km.GetClientKeyRequest if call == kms.get_client_key else km.DeleteClientKeyRequest
        )
        expect_error(*NOT_FOUND, lambda c=call, r=request: c(r(client_key_id="KAAP.nope")))


# -- authorization -------------------------------------------------------------------------------


def test_a_ram_user_needs_each_resource_an_action_names(
    kms: Client, ram: RamClient, server: ServerProcess
) -> None:
    user: RamUser = new_user(server, ram, "aapuser")
    rule = new_rule(kms)
    mine = unique("mine")
    grant(ram, user.name, doc(allow("kms:CreatePolicy", f"acs:kms:*:*:policy/{mine}")))
    request = km.CreatePolicyRequest(
        name=mine, kms_instance=instance_of(kms), permissions=j([KEY_USER]), resources=j(["key/*"]),
        access_control_rules=j({"NetworkRules": [rule]}),
    )  # fmt: skip
    # The policy is allowed, the network rule it names is not.
    error = expect_error("Forbidden.NoPermission", 403, lambda: user.kms.create_policy(request))
    assert rule in error.message
    expect_error(*NOT_FOUND, lambda: kms.describe_policy(km.DescribePolicyRequest(name=mine)))
    grant(ram, user.name, doc(allow("kms:CreatePolicy", f"acs:kms:*:*:network/{rule}")))
    user.kms.create_policy(request)
