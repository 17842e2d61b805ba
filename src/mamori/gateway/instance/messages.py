"""A strict decoder for instance API request bodies.

Which messages each API takes and returns is ``mamori.wire.instance.APIS`` (protoc's output,
shared with the client); nothing here encodes or decodes protobuf by hand. ``decode_request``
adds the one thing protobuf parsing does not do: it refuses a body that is not the canonical
encoding of the message it decodes to (a field given twice, an unknown field, fields out of
order, an explicitly encoded default), because a body that two parsers could read differently
must never reach the signature check's caller.
Every official SDK (Python, Go, Java) serialises proto3 canonically: fields in number order,
defaults omitted.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError, Message

from mamori.wire.instance import API_VERSION, APIS, encode

__all__ = ["APIS", "API_VERSION", "MalformedBody", "decode_request", "encode"]


class MalformedBody(ValueError):
    """The body is not the canonical protobuf encoding of the API's request message."""


def decode_request(api_name: str, body: bytes) -> Message:
    """Parse ``body`` as ``api_name``'s request; raise ``MalformedBody`` unless it is canonical.

    ``api_name`` must be a key of ``APIS`` (the caller has already refused unknown names).
    """
    message: Message = APIS[api_name].request()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise MalformedBody(f"not a {message.DESCRIPTOR.name}") from exc
    # Unknown fields survive a parse and would re-serialise unchanged: drop them first so that
    # the comparison below sees them as a difference.
    message.DiscardUnknownFields()
    if message.SerializeToString(deterministic=True) != body:
        raise MalformedBody(f"not the canonical encoding of a {message.DESCRIPTOR.name}")
    return message
