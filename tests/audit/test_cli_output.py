"""`mamori audit search|tail` show records as text: a field holding terminal escapes, bidi
overrides or Rich markup (any caller can put them in a refused request's names) is shown with
its controls written out, never acted on or rendered (a review's finding)."""

from __future__ import annotations

from typing import Any

import pytest

from mamori.cli.audit import _show


def test_hostile_fields_are_shown_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    row: dict[str, Any] = {
        "time": "2026-12-04T10:00:00Z",
        "chain": "vm-w0",
        "action": "CreateSecret",
        "principal": "acs:ram::1234567890123456:root",
        "source_ip": "127.0.0.1",
        "result": "[bold]InvalidParameter[/bold]",
        "resources": ["acs:kms:cn-hangzhou:1:secret/a\x1b[31mRED\u202e"],
    }
    _show([row], as_json=False)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[31mRED\\u202e" in out
    # No emoji codes (":ram:") nor markup taken from the data.
    assert "acs:ram::1234567890123456:root" in out
    assert "[bold]InvalidParameter[/bold]" in out
