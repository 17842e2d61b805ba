"""The instance API's answers in the shared gateway's shapes, so that what a program gets
through either gateway is interchangeable (the agent and ``mamori.envelope`` rely on it):

* an EncryptionContext is sent as the ``Aad`` the official SDK derives from it (the hex SHA-256
  of the sorted ``k=v&k=v``, ``mamori.crypto.context``), which is what the shared gateway seals
  with; a context another map could share that ``Aad`` with is refused, as the shared gateway
  refuses it;
* an ``AdvanceGenerateDataKey`` / ``AdvanceEncrypt`` blob is the shared gateway's blob behind a
  3-byte prefix (``mamori.crypto.blob.ADVANCE_PREFIX``): dropped to hand a blob out, restored
  to send one to ``AdvanceDecrypt``;
* a ``GetSecretValueResponse`` becomes the shared gateway's JSON body (what the official
  transfer clients rebuild: ``VersionStages`` as ``{"VersionStage": [...]}``, empty fields
  left out).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.json_format import MessageToDict

from mamori.crypto.blob import ADVANCE_PREFIX
from mamori.crypto.context import ambiguity, context_aad
from mamori.wire import instance_api_pb2 as pb


def aad_of(context: Mapping[str, str] | None) -> bytes:
    """The ``Aad`` for an EncryptionContext; ``ValueError`` (the reason) for an ambiguous one."""
    for key, value in (context or {}).items():
        why = ambiguity(key, value)
        if why:
            raise ValueError(why)
    return context_aad(context)


def shared_blob(advance_blob: bytes) -> bytes:
    """The shared gateway's blob inside an Advance blob; ``ValueError`` when it is not one."""
    if not advance_blob.startswith(ADVANCE_PREFIX) or len(advance_blob) <= len(ADVANCE_PREFIX):
        raise ValueError("not an Advance ciphertext blob")
    return advance_blob[len(ADVANCE_PREFIX) :]


def advance_blob(shared: bytes) -> bytes:
    """The Advance blob ``AdvanceDecrypt`` opens for a shared gateway's blob."""
    return ADVANCE_PREFIX + shared


def secret_value_json(answer: pb.GetSecretValueResponse) -> dict[str, Any]:
    """``GetSecretValue``'s answer as the shared gateway's JSON body."""
    body = MessageToDict(answer, preserving_proto_field_name=True)
    body["VersionStages"] = {"VersionStage": list(answer.VersionStages)}
    return body
