"""The instance API's own error table, and the ``Error`` protobuf that carries an error.

The dedicated gateway answers authentication and request-shape failures with codes and messages
that differ from the shared gateway's (``InvalidParam`` / "The Param Date is invalid." where POP
says ``InvalidTimeStamp.Expired``), and clients match on them: ``alibabacloud-kms-python-sdk``'s
transfer layer compares the Date and Authorization messages character for character, and the
Java SDK retries when a message contains "The Param Content-SHA256 is invalid.". So these rows
are kept verbatim here, in one table; business errors (``Forbidden.KeyNotFound`` ...) come from
``api/errors.py`` and are rendered through ``error_body`` the same way.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from mamori.wire import instance_api_pb2 as pb

# (code, HTTP status, message template) — spec §A.4; the statuses of 401/403/404 come from the
# SDKs' mapping tables and Alibaba's docs, not from a real instance.
_ROWS: Final[tuple[tuple[str, int, str], ...]] = (
    ("InvalidApiName", 400, 'The ApiName "{name}" is invalid.'),
    ("InvalidApiVersion", 400, 'The ApiVersion "{version}" is invalid.'),
    # One code for every malformed, stale or unverifiable signature input; the {param} is the
    # header's documented spelling: Date, x-kms-signaturemethod, Content-SHA256, Authorization.
    ("InvalidParam", 400, "The Param {param} is invalid."),
    ("MissingParameter", 400, "Parameter {name} does not exist in http header or body."),
    ("InvalidParameter", 400, "The specified parameter {name} is not valid."),
    ("Unauthorized", 401, "The client key is invalid, disabled or expired."),
    ("Forbidden.NoPermission", 403, "This operation is forbidden by permission system."),
    ("RequestTooLarge", 413, "The request body is larger than {limit} bytes."),
    ("Rejected.Throttling", 429, "QPS Limit Exceeded"),
    ("InternalFailure", 500, "Internal Failure"),
)

ERRORS: Final = MappingProxyType({code: (status, template) for code, status, template in _ROWS})


class InstanceApiError(Exception):
    """A documented instance-API error; ``code`` must be a row of ``ERRORS``."""

    def __init__(self, code: str, **fields: str) -> None:
        status, template = ERRORS[code]
        self.code = code
        self.status = status
        self.message = template.format(**fields)
        super().__init__(f"{code}: {self.message}")


def invalid_param(param: str) -> InstanceApiError:
    """``InvalidParam`` naming the header as Alibaba spells it in the message."""
    return InstanceApiError("InvalidParam", param=param)


def missing_header(name: str) -> InstanceApiError:
    """``MissingParameter`` for a required header."""
    return InstanceApiError("MissingParameter", name=name)


def error_body(status: int, code: str, message: str, request_id: str) -> bytes:
    """The ``Error`` protobuf an error response carries (the SDK reads code, message, id)."""
    error = pb.Error(StatusCode=status, ErrorCode=code, ErrorMessage=message, RequestId=request_id)
    return error.SerializeToString(deterministic=True)
