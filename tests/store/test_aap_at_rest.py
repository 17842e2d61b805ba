"""A client key's private half and its password are never stored: the raw database files are
scanned, after CreateClientKey, for the password, the PKCS#12 it answered and the private key
inside (DER, and base64), while the certificate it keeps is found."""

from __future__ import annotations

import base64
import json

from alibabacloud_kms20160120 import models as km
from cryptography.hazmat.primitives import serialization

from mamori.crypto.client_key import load_client_key_content
from tests.compat.sdk import new_sdk
from tests.conftest import ServerProcess
from tests.store.test_at_rest import _raw_files

PASSWORD = "At-rest-passw0rd-7f3c"


def test_client_keys_keep_only_their_certificate(fresh_server: ServerProcess) -> None:
    kms = new_sdk(fresh_server.endpoint, fresh_server.access_key_id, fresh_server.access_key_secret)
    kms.create_network_rule(
        km.CreateNetworkRuleRequest(name="r", type="Private", source_private_ip="10.0.0.0/8")
    )
    kms.create_policy(
        km.CreatePolicyRequest(
            name="p",
            kms_instance="shared",
            permissions=json.dumps(["RbacPermission/Template/CryptoServiceKeyUser"]),
            resources=json.dumps(["key/*"]),
            access_control_rules=json.dumps({"NetworkRules": ["r"]}),
        )
    )
    kms.create_application_access_point(
        km.CreateApplicationAccessPointRequest(name="aap", policies=json.dumps(["p"]))
    )
    created = kms.create_client_key(
        km.CreateClientKeyRequest(aap_name="aap", password=PASSWORD)
    ).body
    content = json.dumps(
        {"KeyId": created.client_key_id, "PrivateKeyData": created.private_key_data}
    )
    loaded = load_client_key_content(content, PASSWORD)
    private_der = loaded.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pkcs1_der = loaded.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    pkcs12 = base64.b64decode(created.private_key_data)
    certificate = loaded.certificate.public_bytes(serialization.Encoding.DER)

    raw = b"".join(p.read_bytes() for p in _raw_files(fresh_server))
    # The scan can see what is there: the key id and its certificate are stored.
    assert created.client_key_id.encode() in raw
    assert certificate in raw
    needles = {
        "password": PASSWORD.encode(),
        "PKCS#12": pkcs12,
        "PKCS#12 (base64)": created.private_key_data.encode()[:200],
        "private key (PKCS#8)": private_der,
        "private key (PKCS#1)": pkcs1_der,
        "private key (base64)": base64.b64encode(private_der)[:200],
        # the private exponent, however it is encoded around it
        "private exponent": loaded.private_key.private_numbers().d.to_bytes(256, "big"),
    }
    for what, needle in needles.items():
        assert needle not in raw, f"{what} is stored"
