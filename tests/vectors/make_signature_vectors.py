"""Regenerate signatures.json from Alibaba's official SDKs (run by hand, not by the tests).

    .venv/bin/python tests/vectors/make_signature_vectors.py

Two kinds of vector:

* "wire": the real client (new SDK in its ACS3, ACS4 and v2/RPC-V1 modes, and the old SDK) sends a
  real request to a capture server on 127.0.0.1, which records the bytes exactly as received.
  Only the clock and the nonce generator are pinned so that the file is reproducible; every
  byte of canonicalisation, encoding and signing is the SDK's own.
* "spec": the two test vectors of shared/spec/kms-api.md, computed by calling the SDKs' signing
  functions (``Utils.get_authorization``, ``Utils.get_rpcsignature``) directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import alibabacloud_openapi_util.client as openapi_util
import alibabacloud_tea_util.client as tea_util
import aliyunsdkcore.utils.parameter_helper as old_helper
from alibabacloud_kms20160120 import models as km
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_tea_openapi import utils_models as om
from alibabacloud_tea_openapi.utils import Utils
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.EncryptRequest import EncryptRequest
from aliyunsdkkms.request.v20160120.PutSecretValueRequest import PutSecretValueRequest
from aliyunsdkkms.request.v20160120.UpdateKmsInstanceBindVpcRequest import (
    UpdateKmsInstanceBindVpcRequest,
)

OUT = Path(__file__).with_name("signatures.json")
TIMESTAMP = "2025-01-02T03:04:05Z"
PORT = 47931
AK = "LTAI5tVectorKey0001"
SECRET = "vectorSecret0123456789abcdefABCD"
ODD_SECRET = "s3cr€t with spaces+/=&"
STS_AK = "STS.NVectorTemporaryKey"
STS_SECRET = "stsVectorSecret0123456789"
STS_TOKEN = "CAIS+vector/token==with&odd*chars~"
SPECIAL = "+ / * ~ = & ü 鍵 🔑"
PACKAGES = (
    "alibabacloud-kms20160120",
    "alibabacloud-tea-openapi",
    "alibabacloud-gateway-pop",
    "alibabacloud-credentials",
    "darabonba-core",
    "aliyun-python-sdk-core",
    "aliyun-python-sdk-kms",
)


class _Capture(BaseHTTPRequestHandler):
    captured: list[dict[str, Any]] = []

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, raw_query = self.path.partition("?")
        self.captured.append(
            {
                "method": self.command,
                "path": path,
                "raw_query": raw_query,
                "headers": [[name, value] for name, value in self.headers.items()],
                "body": body.decode("utf-8"),
            }
        )
        reply = b'{"RequestId":"vector"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _pinned_clock_and_nonce() -> Iterator[Callable[[str], None]]:
    """Pin every SDK's timestamp and nonce source; yields a setter for the next nonce."""
    nonce = ["unset"]
    patches = [
        (Utils, "get_timestamp", staticmethod(lambda: TIMESTAMP)),
        (Utils, "get_nonce", staticmethod(lambda: nonce[0])),
        (openapi_util.Client, "get_timestamp", staticmethod(lambda: TIMESTAMP)),
        (tea_util.Client, "get_nonce", staticmethod(lambda: nonce[0])),
        (old_helper, "get_iso_8061_date", lambda: TIMESTAMP),
        (old_helper, "get_uuid", lambda: nonce[0]),
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)

    def set_nonce(name: str) -> None:
        nonce[0] = hashlib.md5(name.encode()).hexdigest()  # a label, as the SDK makes

    try:
        yield set_nonce
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def _new_client(endpoint: str, **config: Any) -> KmsClient:
    config.setdefault("access_key_id", AK)
    config.setdefault("access_key_secret", SECRET)
    return KmsClient(om.Config(endpoint=endpoint, protocol="http", **config))


def _wire_vectors(endpoint: str, set_nonce: Callable[[str], None]) -> list[dict[str, Any]]:
    context = {"purpose": "unit test", "ü": SPECIAL, "empty": ""}
    custom = {"my key": "v 1", "ключ": "значение", "a+b": SPECIAL}
    v4 = {"signature_version": "v4"}
    v2 = {"signature_algorithm": "v2"}
    sts = {
        "access_key_id": STS_AK,
        "access_key_secret": STS_SECRET,
        "security_token": STS_TOKEN,
    }
    put = km.PutSecretValueRequest(
        secret_name="db/password one",
        version_id="v2",
        secret_data=f"p@ss word {SPECIAL}",
        secret_data_type="text",
        version_stages='["ACSCurrent"]',
    )
    # (name, style, note, config overrides, call on the client)
    new_sdk: list[tuple[str, str, str, dict[str, Any], Callable[[KmsClient], Any]]] = [
        (
            "acs3-encrypt-context",
            "ACS3-HMAC-SHA256",
            "Encrypt with unicode and reserved characters in EncryptionContext",
            {},
            lambda c: c.encrypt(
                km.EncryptRequest(
                    key_id="alias/app key", plaintext="aGVsbG8gd29ybGQ=", encryption_context=context
                )
            ),
        ),
        (
            "acs3-put-secret-value-form-body",
            "ACS3-HMAC-SHA256",
            "SecretData travels in a form body bound by x-acs-content-sha256",
            {},
            lambda c: c.put_secret_value(put),
        ),
        (
            "acs3-decrypt-empty-form-body",
            "ACS3-HMAC-SHA256",
            "form content-type with an empty body (Recipient unset)",
            {},
            lambda c: c.decrypt(km.DecryptRequest(ciphertext_blob="Y2lwaGVy+/==")),
        ),
        (
            "acs3-empty-value",
            "ACS3-HMAC-SHA256",
            "a parameter with an empty value",
            {},
            lambda c: c.update_secret(km.UpdateSecretRequest(secret_name="s1", description="")),
        ),
        (
            "acs3-raw-map-key-names",
            "ACS3-HMAC-SHA256",
            "map keys that need encoding: the SDK signs them unencoded (raw-name retry)",
            {},
            lambda c: c.update_secret(
                km.UpdateSecretRequest(
                    secret_name="s2",
                    extended_config=km.UpdateSecretRequestExtendedConfig(custom_data=custom),
                )
            ),
        ),
        (
            "acs3-get-list-client-keys",
            "ACS3-HMAC-SHA256",
            "a GET action",
            {},
            lambda c: c.list_client_keys(km.ListClientKeysRequest(aap_name="aap 1")),
        ),
        (
            "acs3-no-parameters",
            "ACS3-HMAC-SHA256",
            "no query at all",
            {},
            lambda c: c.describe_regions(),
        ),
        (
            "acs3-sts-token",
            "ACS3-HMAC-SHA256",
            "STS credentials: x-acs-security-token and x-acs-accesskey-id signed",
            sts,
            lambda c: c.encrypt(km.EncryptRequest(key_id="key-sts", plaintext="AAAA")),
        ),
        (
            "acs3-odd-secret",
            "ACS3-HMAC-SHA256",
            "a secret with non-ASCII and reserved characters",
            {"access_key_secret": ODD_SECRET},
            lambda c: c.describe_key(km.DescribeKeyRequest(key_id="key-odd")),
        ),
        (
            "acs4-encrypt-center",
            "ACS4-HMAC-SHA256",
            "V4, no region configured: scope region 'center'",
            v4,
            lambda c: c.encrypt(
                km.EncryptRequest(
                    key_id="alias/app key", plaintext="aGVsbG8=", encryption_context=context
                )
            ),
        ),
        (
            "acs4-put-secret-value-region",
            "ACS4-HMAC-SHA256",
            "V4 with region_id and a form body",
            {**v4, "region_id": "cn-hangzhou"},
            lambda c: c.put_secret_value(put),
        ),
        (
            "v1-new-sdk-encrypt",
            "HMAC-SHA1",
            "new SDK with signature_algorithm='v2'",
            v2,
            lambda c: c.encrypt(
                km.EncryptRequest(
                    key_id="alias/app key", plaintext="aGVsbG8=", encryption_context=context
                )
            ),
        ),
        (
            "v1-new-sdk-put-secret-value-form-body",
            "HMAC-SHA1",
            "new SDK v2 mode: form body parameters are signed",
            v2,
            lambda c: c.put_secret_value(put),
        ),
    ]
    vectors = []
    for name, style, note, overrides, call in new_sdk:
        set_nonce(name)
        before = len(_Capture.captured)
        call(_new_client(endpoint, **overrides))
        (request,) = _Capture.captured[before:]
        secret = overrides.get("access_key_secret", SECRET)
        source = "alibabacloud-kms20160120 Client"
        vectors.append(_vector(name, style, note, source, secret, request))

    def old(
        name: str,
        note: str,
        req: Any,
        credential: StsTokenCredential | None = None,
        secret: str = SECRET,
    ) -> None:
        set_nonce(name)
        req.set_endpoint(endpoint)
        req.set_protocol_type("http")
        if credential is None:
            client = AcsClient(AK, secret, "cn-hangzhou")
        else:
            client = AcsClient(region_id="cn-beijing", credential=credential)
        before = len(_Capture.captured)
        client.do_action_with_exception(req)
        (request,) = _Capture.captured[before:]
        vector = _vector(
            name, "HMAC-SHA1", note, "aliyun-python-sdk-core AcsClient", secret, request
        )
        vector["sdk_string_to_sign"] = req.string_to_sign
        vectors.append(vector)

    encrypt = EncryptRequest()
    encrypt.set_KeyId("alias/app key")
    encrypt.set_Plaintext("aGVsbG8gd29ybGQ=")
    encrypt.set_EncryptionContext(json.dumps(context, ensure_ascii=False))
    old("v1-old-sdk-encrypt", "old SDK, SignatureType= empty and signed", encrypt)

    put_old = PutSecretValueRequest()
    put_old.set_SecretName("db/password one")
    put_old.set_VersionId("v2")
    put_old.set_SecretData(f"p@ss word {SPECIAL}")
    old("v1-old-sdk-put-secret-value", "old SDK puts SecretData in the query", put_old)

    bind = UpdateKmsInstanceBindVpcRequest()
    bind.set_KmsInstanceId("kst-vector")
    bind.set_BindVpcs('[{"VpcId":"vpc-1","RegionId":"cn-hangzhou","VSwitchId":"vsw-1"}]')
    old("v1-old-sdk-get", "an old-SDK GET action", bind, secret=ODD_SECRET)

    sts_encrypt = EncryptRequest()
    sts_encrypt.set_KeyId("key-sts")
    sts_encrypt.set_Plaintext("AAAA")
    old(
        "v1-old-sdk-sts",
        "old SDK with STS: SecurityToken parameter",
        sts_encrypt,
        credential=StsTokenCredential(STS_AK, STS_SECRET, STS_TOKEN),
        secret=STS_SECRET,
    )
    return vectors


def _vector(
    name: str, style: str, note: str, source: str, secret: str, request: dict[str, Any]
) -> dict[str, Any]:
    sent = {key.lower(): value for key, value in request["headers"]}
    is_sts = "x-acs-security-token" in sent or "SecurityToken=" in request["raw_query"]
    return {
        "name": name,
        "kind": "wire",
        "style": style,
        "note": note,
        "source": source,
        "access_key_id": STS_AK if is_sts else AK,
        "access_key_secret": secret,
        "security_token": STS_TOKEN if is_sts else None,
        **request,
    }


def _spec_vectors() -> list[dict[str, Any]]:
    # shared/spec/kms-api.md 4.1: Utils.get_authorization over the spec's request.
    query = {"KeyId": "alias/test key", "Plaintext": "aGVsbG8=", "EncryptionContext": '{"a":"b c"}'}
    body = "SecretData=x%2By"
    headers = {
        "host": "kms.cn-hangzhou.aliyuncs.com",
        "x-acs-version": "2016-01-20",
        "x-acs-action": "Encrypt",
        "user-agent": "test-agent",
        "x-acs-date": "2024-01-01T00:00:00Z",
        "x-acs-signature-nonce": "0123456789abcdef",
        "accept": "application/json",
        "content-type": "application/x-www-form-urlencoded",
        "x-acs-content-sha256": Utils.hex_encode(Utils.hash(body.encode(), "ACS3-HMAC-SHA256")),
    }
    request = _SpecRequest("POST", "/", query, headers)
    headers["Authorization"] = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], "testAK", "testSecret"
    )
    acs3 = {
        "name": "spec-acs3-test-vector",
        "kind": "spec",
        "style": "ACS3-HMAC-SHA256",
        "note": "kms-api.md 4.1 test vector",
        "source": "alibabacloud_tea_openapi.utils.Utils.get_authorization",
        "access_key_id": "testAK",
        "access_key_secret": "testSecret",
        "security_token": None,
        "method": "POST",
        "path": "/",
        "raw_query": urlencode(query),
        "headers": [[name, value] for name, value in headers.items()],
        "body": body,
    }
    # shared/spec/kms-api.md 4.2: the KMS docs' example (it has no SignatureNonce).
    params = {
        "Action": "CreateKey",
        "Format": "json",
        "Version": "2016-01-20",
        "AccessKeyId": "testid",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-03-28T03:13:08Z",
    }
    params["Signature"] = Utils.get_rpcsignature(params, "GET", "testsecret")
    v1 = {
        "name": "spec-v1-docs-example",
        "kind": "spec",
        "style": "HMAC-SHA1",
        "note": "kms-api.md 4.2 test vector (docs example; no SignatureNonce)",
        "source": "alibabacloud_tea_openapi.utils.Utils.get_rpcsignature",
        "access_key_id": "testid",
        "access_key_secret": "testsecret",
        "security_token": None,
        "method": "GET",
        "path": "/",
        "raw_query": urlencode(params),
        "headers": [["host", "kms.cn-hangzhou.aliyuncs.com"]],
        "body": "",
    }
    return [acs3, v1]


class _SpecRequest:
    """The three attributes ``Utils.get_authorization`` reads from a request."""

    def __init__(self, method: str, pathname: str, query: dict[str, str], headers: dict[str, str]):
        self.method = method
        self.pathname = pathname
        self.query = query
        self.headers = headers


def main() -> None:
    """Capture the wire vectors, compute the spec vectors, write signatures.json."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)  # both SDKs ignore NO_PROXY
    # A fixed port keeps the file reproducible: Host (with its port) is signed in ACS3/ACS4.
    server = ThreadingHTTPServer(("127.0.0.1", PORT), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"127.0.0.1:{server.server_address[1]}"
        with _pinned_clock_and_nonce() as set_nonce:
            vectors = _wire_vectors(endpoint, set_nonce)
    finally:
        server.shutdown()
        server.server_close()
    document = {
        "generated_by": {package: version(package) for package in PACKAGES},
        "timestamp": TIMESTAMP,
        "vectors": vectors + _spec_vectors(),
    }
    OUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(document['vectors'])} vectors to {OUT}")


if __name__ == "__main__":
    main()
