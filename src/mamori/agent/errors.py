"""The agent's own refusals, in one table: code → HTTP status and message. Upstream refusals
keep the server's code and status (``upstream.UpstreamError``)."""

from __future__ import annotations

from typing import Final

ERRORS: Final[dict[str, tuple[int, str]]] = {
    "InvalidParameter": (400, "{detail}"),
    "MissingParameter": (400, "The parameter {name} is required."),
    "Forwarded": (400, "Forwarded requests (X-Forwarded-For) are refused: the agent serves "
                       "local callers only."),
    "InvalidCiphertext": (400, "The envelope cannot be decrypted: it is malformed, was changed, "
                               "or the EncryptionContext differs."),
    "BadToken": (403, "The request has no valid SSRF token header."),
    "Forbidden.EnvelopeNotEnabled": (403, "Envelope encryption is not enabled for {what} in "
                                          "the agent's configuration."),
    "NotFound": (404, "No such route."),
    "MethodNotAllowed": (405, "This route does not accept {method}."),
    "RequestTimeout": (408, "The request was not received whole within {seconds} seconds."),
    "RequestTooLarge": (413, "The request body is larger than {limit} bytes."),
    "RequestHeaderFieldsTooLarge": (431, "The request line and headers are larger than "
                                         "{limit} bytes or {count} fields."),
    "ConnectionLimitExceeded": (429, "The agent's connection limit (MaxConn) is reached."),
    "InternalFailure": (500, "The agent failed to process the request."),
}  # fmt: skip


class AgentError(Exception):
    """A request the agent refuses itself."""

    def __init__(self, code: str, **fields: object) -> None:
        status, template = ERRORS[code]
        self.code = code
        self.status = status
        self.message = template.format(**fields)
        super().__init__(f"{code}: {self.message}")
