"""Runs inside the dkms-gcs venv (never imported by Mamori's tests): one JSON request on stdin,
one JSON answer on stdout. Everything it does is the official SDK's own code.

Operations:
  descriptor  -> the SDK's serialized FileDescriptorProto (api.proto), base64
  apis        -> the API names the SDK's client sends (its do_request calls)
  roundtrip   -> for each {message, fields, wire}: the SDK's encoding of ``fields`` and the
                 fields the SDK reads from ``wire``
  request     -> the request the SDK's client builds for one API call (headers, body, method,
                 path), captured where Tea would send it; signed by the SDK's own signer
  pkcs12      -> what pyOpenSSL's load_pkcs12 (the SDK's loader) reads from a PKCS#12
  error       -> what the SDK reads from an Error body (the fields of its TeaException)
  call        -> one real call to ``endpoint`` (plain HTTP, or HTTPS with ``ca_file``): the
                 response the SDK parsed, or the code, message and data of the TeaException
                 it raised

Bytes travel as base64 strings; a bytes field is named in ``bytes_fields``.
"""

import base64
import json
import sys


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text)


def descriptor(_req):
    from openapi_util.protobuf import api_pb2

    return {"descriptor": b64(api_pb2.DESCRIPTOR.serialized_pb)}


def apis(_req):
    import inspect
    import re

    from sdk import client as sdk_client

    source = inspect.getsource(sdk_client)
    return {"apis": sorted(set(re.findall(r"do_request(?:_async)?\(\s*'(\w+)'", source)))}


def _message_class(name):
    from openapi_util.protobuf import api_pb2

    return getattr(api_pb2, name)


def _fields_out(message):
    out = {}
    for field, value in message.ListFields():
        if isinstance(value, bytes):
            out[field.name] = {"b64": b64(value)}
        elif field.label == field.LABEL_REPEATED:
            out[field.name] = list(value)
        else:
            out[field.name] = value
    return out


def _fields_in(fields):
    return {k: unb64(v["b64"]) if isinstance(v, dict) else v for k, v in fields.items()}


def roundtrip(req):
    results = []
    for item in req["items"]:
        cls = _message_class(item["message"])
        built = cls(**_fields_in(item["fields"])).SerializeToString()
        parsed = cls.FromString(unb64(item["wire"]))
        results.append(
            {
                "message": item["message"],
                "built": b64(built),
                "parsed": _fields_out(parsed),
                "reserialized": b64(parsed.SerializeToString()),
            }
        )
    return {"results": results}


def request(req):
    from openapi import models as open_models
    from openapi_util import models as util_models
    from sdk import client as sdk_client
    from sdk import models as sdk_models
    from Tea.core import TeaCore

    captured = []

    class _Response:
        status_code = 200
        headers = {}
        body = b""

    def fake_do_action(tea_request, runtime_option=None):
        captured.append(tea_request)
        return _Response()

    TeaCore.do_action = staticmethod(fake_do_action)
    if "date" in req:  # pinned for reproducible vectors; everything else stays the SDK's
        from alibabacloud_tea_util.client import Client as TeaUtil

        TeaUtil.get_date_utcstring = staticmethod(lambda: req["date"])

    endpoint = req.get("endpoint", "kst-test.cryptoservice.kms.aliyuncs.com")
    config = open_models.Config(endpoint=endpoint)
    if "client_key_content" in req:
        config.client_key_content = req["client_key_content"]
        config.password = req["password"]
    else:
        config.access_key_id = req["access_key_id"]
        config.private_key = req["private_key"]
    client = sdk_client.Client(config)

    args = dict(req.get("args", {}))
    for name in req.get("bytes_args", []):
        args[name] = unb64(args[name])
    model = getattr(sdk_models, req["api"] + "Request")(**args)
    if req.get("request_headers"):
        model.request_headers = req["request_headers"]
    method = getattr(client, req["method"] + "_with_options")
    method(model, util_models.RuntimeOptions())
    (sent,) = captured
    from openapi_util.client import Client as UtilClient

    unsigned = {k: v for k, v in sent.headers.items() if k != "authorization"}
    return {
        "string_to_sign": UtilClient.get_string_to_sign(
            sent.method, sent.pathname, unsigned, sent.query
        ),
        "method": sent.method,
        "pathname": sent.pathname,
        "query": sent.query or {},
        "headers": dict(sent.headers),
        # Tea stores an empty body as None and sends no body bytes (content-length: 0).
        "body": b64(sent.body or b""),
    }


def _jsonable(value):
    if isinstance(value, bytes):
        return {"b64": b64(value)}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def call(req):
    from openapi import models as open_models
    from openapi_util import models as util_models
    from sdk import client as sdk_client
    from sdk import models as sdk_models
    from Tea.exceptions import TeaException

    config = open_models.Config(
        endpoint=req["endpoint"],
        protocol=req.get("protocol", "http"),
        client_key_content=req["client_key_content"],
        password=req["password"],
    )
    if req.get("ca_file"):
        # The SDK's documented trust set-up: the instance CA's file.
        config.ca_file_path = req["ca_file"]
    client = sdk_client.Client(config)
    args = dict(req.get("args", {}))
    for name in req.get("bytes_args", []):
        args[name] = unb64(args[name])
    model = getattr(sdk_models, req["api"] + "Request")(**args)
    runtime = util_models.RuntimeOptions(
        autoretry=False, response_headers=req.get("response_headers")
    )
    try:
        response = getattr(client, req["method"] + "_with_options")(model, runtime)
    except TeaException as exc:
        return {"error": {"code": exc.code, "message": exc.message, "data": exc.data}}
    return {"response": _jsonable(response.to_map())}


def pkcs12(req):
    from OpenSSL import crypto

    p12 = crypto.load_pkcs12(unb64(req["pkcs12"]), req["password"])
    cert = p12.get_certificate()
    return {
        "friendly_name": (p12.get_friendlyname() or b"").decode(),
        "subject_cn": cert.get_subject().CN,
        "cert_count_extra": len(p12.get_ca_certificates() or ()),
        "key_bits": p12.get_privatekey().bits(),
    }


def error(req):
    from openapi_util.client import Client as UtilClient

    return UtilClient.get_err_message(unb64(req["body"]))


OPS = {
    "descriptor": descriptor,
    "apis": apis,
    "roundtrip": roundtrip,
    "request": request,
    "pkcs12": pkcs12,
    "error": error,
    "call": call,
}

if __name__ == "__main__":
    payload = json.load(sys.stdin)
    json.dump(OPS[payload["op"]](payload), sys.stdout)
