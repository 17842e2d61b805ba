"""The SSRF token: the secret every request must carry in one of ``SSRFHeaders``.

It comes from the first variable of ``SSRFEnvVariables`` that is set (the token itself, or
``file:///path`` to read it from a file), as in the official and AWS agents. When none is set
and ``TokenFile`` is, the agent makes a fresh random token at start and writes it there
(mode 0600, or 0640 for a reader group), replacing the file atomically; applications read it
from that file. The token never appears in logs or errors.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from mamori.agent.config import AgentConfig

FILE_SCHEME: Final = "file://"
# A token shorter than this is guessable enough to defeat the point of having one.
MIN_TOKEN_CHARS: Final = 16
MAX_TOKEN_CHARS: Final = 4096


class TokenError(ValueError):
    """No usable token (the message says where the agent looked; it never holds the token)."""


def resolve_token(config: AgentConfig, environ: Mapping[str, str]) -> str:
    """The token requests must carry; generates ``TokenFile`` when no variable holds one."""
    for name in config.ssrf_env_variables:
        value = environ.get(name, "")
        if value:
            token = (
                _read_file(Path(value[len(FILE_SCHEME) :]), name)
                if value.startswith(FILE_SCHEME)
                else value
            )
            return _checked(token, f"the token in {name}")
    if config.token_file is not None:
        return write_token_file(config.token_file, config.token_file_mode)
    names = ", ".join(config.ssrf_env_variables)
    raise TokenError(
        f"no SSRF token: set one of {names} (to the token or file:///path), "
        "or TokenFile / --token-file to have the agent generate one"
    )


def write_token_file(path: Path, mode: int) -> str:
    """Write a new random token (64 hex characters) to ``path`` with ``mode``; return it."""
    token = secrets.token_hex(32)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            # umask may have taken bits away from a 0640 request; set exactly what was asked.
            os.fchmod(fd, mode)
            os.write(fd, f"{token}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise TokenError(f"cannot write the token file {path}: {exc.strerror}") from None
    return token


def _read_file(path: Path, variable: str) -> str:
    try:
        info = path.stat()
        if info.st_mode & stat.S_IRWXO:
            raise TokenError(
                f"the token file {path} (from {variable}) is accessible to other users; "
                "chmod o-rwx it"
            )
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenError(
            f"cannot read the token file {path} (from {variable}): {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise TokenError(f"the token file {path} (from {variable}) is not UTF-8 text") from None


def _checked(token: str, where: str) -> str:
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
        raise TokenError(f"{where} must be {MIN_TOKEN_CHARS}–{MAX_TOKEN_CHARS} characters long")
    if not token.isascii() or not token.isprintable() or token != token.strip():
        raise TokenError(f"{where} must be printable ASCII without surrounding spaces")
    return token
