"""docs/cli.md is generated from the commands; regenerate it with
``mamori reference cli > docs/cli.md``."""

from __future__ import annotations

from mamori.cli.docs import cli_markdown
from mamori.cli.main import app
from tests.conftest import ROOT


def test_docs_cli_md_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == cli_markdown(app)


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in cli_markdown(app)
