"""EncryptionContext → AAD agrees with the official instance SDK's ``sort_and_encode``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mamori.crypto.context import context_aad

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "encryption_context.json").read_text("utf-8")
)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: json.dumps(v["context"]))
def test_aad_matches_the_official_sdk(vector: dict[str, object]) -> None:
    context = vector["context"]
    assert isinstance(context, dict)
    assert context_aad(context) == str(vector["aad"]).encode("ascii")


def test_equal_sets_give_equal_aad_and_empty_gives_none() -> None:
    assert context_aad({"a": "1", "b": "2"}) == context_aad({"b": "2", "a": "1"})
    assert context_aad({}) == b""
    assert context_aad(None) == b""
