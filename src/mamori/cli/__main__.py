"""``python -m mamori.cli``."""

from mamori.cli.main import app

app(prog_name="mamori")
