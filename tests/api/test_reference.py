"""The generated reference docs in docs/ match the code (regenerate: mamori reference)."""

from __future__ import annotations

from pathlib import Path

from mamori.api.reference import actions_markdown, errors_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_errors_md_is_current() -> None:
    assert (DOCS / "errors.md").read_text("utf-8") == errors_markdown(), (
        "run: mamori reference errors > docs/errors.md"
    )


def test_docs_actions_md_is_current() -> None:
    assert (DOCS / "actions.md").read_text("utf-8") == actions_markdown(), (
        "run: mamori reference actions > docs/actions.md"
    )
