"""Runs inside the instance SDKs' venv (never imported by Mamori's tests): an application that
holds one official client and makes the calls its test asks for.

The first JSON line on stdin sets the client up; every later line is one call, answered by one
JSON line on stdout. Everything that talks to the server is the official SDKs' own code; the
only hooks are at the edges a real deployment also controls (the clock the SDK reads, the local
address its HTTP layer binds) or that a test needs to play an attacker (a header changed after
the SDK signed it).

Setup line:
  kind       "dkms" (alibabacloud-dkms-gcs sdk.client.Client), "kms" (alibabacloud-kms-python-sdk
             Client: instance config + OpenAPI config), "transfer" (its TransferClient) or
             "acs_transfer" (alibabacloud-dkms-transfer-python's KmsTransferAcsClient)
  instance   the instance Config: endpoint, ca_file, client_key_content + password, or
             access_key_id + private_key; for "transfer" also force_low_version_crypto_transfer
  openapi    the OpenAPI Config (access_key_id, access_key_secret, endpoint, protocol, ca)
  source_address   bind the HTTP layer's connections to this local address (urllib3's option)
  date_offset      seconds added to the date the SDK signs
  tamper_date      change the date header by one second after the SDK signed the request

Call line:
  method     the client's method name (``encrypt``, ``create_key``, ``do_request``, …)
  models     "sdk" (alibabacloud-dkms-gcs models) or "kms" (alibabacloud_kms20160120 models)
  request    the model class name; args (bytes named in bytes_args as base64)
  runtime    fields of the RuntimeOptions; request_headers for the instance SDK's models
  models "acs": request is an aliyunsdkkms request class, params its set_<Name> values
Answer: {"response": <to_map(), bytes as {"b64": …}>} or {"error": {code, message, data}}.
"""

import base64
import json
import sys
import time


def b64(data):
    return base64.b64encode(data).decode("ascii")


def jsonable(value):
    if isinstance(value, bytes):
        return {"b64": b64(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def hook_source_address(address):
    """Every connection Tea's requests sessions open binds ``address`` (urllib3's option)."""
    from Tea.core import TeaCore

    original = TeaCore.get_adapter

    def get_adapter(prefix, tls_min_version=None):
        adapter = original(prefix, tls_min_version)
        adapter.init_poolmanager(
            adapter._pool_connections,
            adapter._pool_maxsize,
            block=adapter._pool_block,
            source_address=(address, 0),
        )
        return adapter

    TeaCore.get_adapter = staticmethod(get_adapter)


def hook_date_offset(seconds):
    from email.utils import formatdate

    from alibabacloud_tea_util.client import Client as TeaUtil

    def shifted():
        return formatdate(time.time() + seconds, usegmt=True)

    TeaUtil.get_date_utcstring = staticmethod(shifted)


def hook_tamper_date():
    from email.utils import formatdate, parsedate_to_datetime

    from Tea.core import TeaCore

    original = TeaCore.do_action

    def do_action(request, runtime_option=None):
        signed = parsedate_to_datetime(request.headers["date"]).timestamp()
        request.headers["date"] = formatdate(signed + 1, usegmt=True)
        return original(request, runtime_option)

    TeaCore.do_action = staticmethod(do_action)


def instance_config(cls, spec):
    config = cls(endpoint=spec["endpoint"], protocol=spec.get("protocol", "https"))
    if "client_key_content" in spec:
        config.client_key_content = spec["client_key_content"]
        config.password = spec["password"]
    else:
        config.access_key_id = spec["access_key_id"]
        config.private_key = spec["private_key"]
    if spec.get("ca_file"):
        # The documented trust step; KmsConfig has no constructor argument for it.
        config.ca_file_path = spec["ca_file"]
    if spec.get("force_low_version_crypto_transfer"):
        config.force_low_version_crypto_transfer = True
    return config


def openapi_config(spec):
    from alibabacloud_tea_openapi import models as open_api_models

    return open_api_models.Config(**spec)


def make_client(setup):
    kind = setup["kind"]
    if kind == "dkms":
        from openapi.models import Config
        from sdk.client import Client

        return Client(instance_config(Config, setup["instance"]))
    if kind == "kms":
        from alibabacloud_kms_kms20160120.client import Client
        from openapi.models import Config

        return Client(instance_config(Config, setup["instance"]), openapi_config(setup["openapi"]))
    if kind == "transfer":
        from alibabacloud_kms_kms20160120.models import KmsConfig
        from alibabacloud_kms_kms20160120.transfer_client import TransferClient

        kms_config = instance_config(KmsConfig, setup["instance"])
        openapi = openapi_config(setup["openapi"]) if setup.get("openapi") else None
        return TransferClient(openapi, kms_config)
    if kind == "acs_transfer":
        from alibabacloud_dkms_transfer.kms_transfer_acs_client import KmsTransferAcsClient
        from openapi.models import Config

        # The fake AccessKey the Secrets client v1 plugs in: only the instance API is used.
        return KmsTransferAcsClient(
            config=instance_config(Config, setup["instance"]), ak="PRETEND_AK", secret="PRETEND_SK"
        )
    raise ValueError(kind)


def acs_call(client, spec):
    import importlib

    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

    name = spec["request"]
    module = importlib.import_module("aliyunsdkkms.request.v20160120." + name)
    request = getattr(module, name)()
    for key, value in spec.get("params", {}).items():
        getattr(request, "set_" + key)(value)
    try:
        return {"response": json.loads(client.do_action_with_exception(request))}
    except ServerException as exc:
        data = {"httpCode": exc.get_http_status()}
        return {
            "error": {"code": exc.get_error_code(), "message": exc.get_error_msg(), "data": data}
        }
    except ClientException as exc:
        return {"error": {"code": exc.get_error_code(), "message": exc.get_error_msg(), "data": {}}}


def runtime_for(models, fields):
    if models == "sdk":
        from openapi_util.models import RuntimeOptions

        return RuntimeOptions(autoretry=fields.pop("autoretry", False), **fields)
    from alibabacloud_kms_kms20160120.models import KmsRuntimeOptions

    return KmsRuntimeOptions(autoretry=fields.pop("autoretry", False), **fields)


def call(client, spec):
    from Tea.exceptions import TeaException

    models = spec.get("models", "sdk")
    if models == "acs":
        return acs_call(client, spec)
    runtime = runtime_for(models, dict(spec.get("runtime", {})))
    args = dict(spec.get("args", {}))
    for name in spec.get("bytes_args", []):
        args[name] = base64.b64decode(args[name])
    try:
        if spec["method"] == "do_request":
            # An API the SDK has no method for, sent through its own signed request path.
            answer = client.do_request(
                args["api_name"],
                "dkms-gcs-0.2",
                "https",
                "POST",
                "RSA_PKCS1_SHA_256",
                b"",
                runtime,
                {},
            )
            return {"response": jsonable(answer)}
        if models == "sdk":
            from sdk import models as sdk_models

            model = getattr(sdk_models, spec["request"])(**args)
            if spec.get("request_headers"):
                model.request_headers = spec["request_headers"]
        else:
            from alibabacloud_kms20160120 import models as kms_models

            model = getattr(kms_models, spec["request"])(**args)
        with_options = getattr(client, spec["method"] + "_with_options", None)
        if with_options is None:  # a method with no runtime variant
            response = getattr(client, spec["method"])(model)
        else:
            response = with_options(model, runtime)
    except TeaException as exc:
        return {"error": {"code": exc.code, "message": exc.message, "data": jsonable(exc.data)}}
    return {"response": jsonable(response.to_map())}


def main():
    setup = json.loads(sys.stdin.readline())
    if setup.get("source_address"):
        hook_source_address(setup["source_address"])
    if setup.get("date_offset"):
        hook_date_offset(setup["date_offset"])
    if setup.get("tamper_date"):
        hook_tamper_date()
    client = make_client(setup)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        try:
            answer = call(client, json.loads(line))
        except Exception:  # the SDK crashed: the test reports it, the application lives on
            import traceback

            answer = {"crash": traceback.format_exc()}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
