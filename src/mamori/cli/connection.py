"""Which server the ``mamori`` client commands talk to, and as whom: the one place the
connection settings are resolved (docs/cli-guide.md, "Connecting").

Credentials, first match wins: ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` (only when no
profile is named), else a profile of Alibaba's credentials file (``--credentials-file``,
``ALIBABA_CLOUD_CREDENTIALS_FILE``, ``~/.alibabacloud/credentials``; ``--profile``,
``ALIBABA_CLOUD_PROFILE``, ``default``). With ``--data-dir``/``--config`` the server's own
settings name the credentials (``admin.credentials``) and the HTTP listener instead (its HTTPS
listener, with the server's own CA, when the server listens on an address that is not
loopback): an operator on the server's machine needs nothing else. Endpoint, protocol and CA:
flag, then ``MAMORI_…`` variable, then the profile's ``mamori_…`` keys, then 127.0.0.1:8443
over HTTPS.

With a client key (``--client-key-file`` or ``MAMORI_CLIENT_KEY_FILE``) the commands that the
dedicated gateway can serve speak its instance API instead, HTTPS only, and no AccessKey is
looked for: the password from ``MAMORI_CLIENT_KEY_PASSWORD``, else the file
``--client-key-password-file`` / ``MAMORI_CLIENT_KEY_PASSWORD_FILE``.

Imports no server code unless ``--data-dir``/``--config`` asks for the server's settings.
"""

from __future__ import annotations

import configparser
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mamori.client._base import loopback
from mamori.client._client_key import ClientKeyError, client_key_password, load_client_key
from mamori.crypto.client_key import LoadedClientKey

if TYPE_CHECKING:
    from mamori.client import Client, InstanceClient

DEFAULT_ENDPOINT = "127.0.0.1:8443"
DEFAULT_CREDENTIALS = Path("~/.alibabacloud/credentials")
PASSWORD_VARIABLE = "MAMORI_CLIENT_KEY_PASSWORD"  # noqa: S105 - a variable name, not a password


class ConnectionProblem(Exception):
    """The connection settings are unusable; the message says which and why (exit 2)."""


@dataclass
class Target:
    """The connection options as given (flags; ``None`` where absent)."""

    profile: str | None = None
    credentials_file: Path | None = None
    endpoint: str | None = None
    protocol: str | None = None
    ca_file: Path | None = None
    data_dir: Path | None = None
    config: Path | None = None
    client_key_file: Path | None = None
    client_key_password_file: Path | None = None
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True)
class Resolved:
    """Where to connect and with which AccessKey (the secret is never printed)."""

    endpoint: str
    protocol: Literal["http", "https"]
    ca_file: Path | None
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    # Set when the dedicated gateway is to be used (then there is no AccessKey).
    client_key: LoadedClientKey | None = field(default=None, repr=False)

    def instance_client(self) -> InstanceClient:
        """A client of this server's dedicated gateway (``client_key`` must be set)."""
        assert self.client_key is not None
        from mamori.client import InstanceClient  # httpx loads with the first client

        return InstanceClient(self.endpoint, self.client_key, ca_file=self.ca_file)

    def client(self) -> Client:
        """A client of this server."""
        from mamori.client import Client  # httpx loads with the first client, not with `mamori`

        return Client(
            self.endpoint,
            self.access_key_id,
            self.access_key_secret,
            security_token=self.security_token,
            protocol=self.protocol,
            ca_file=self.ca_file,
        )


def resolve(target: Target) -> Resolved:
    """Apply the precedence rules above; ``ConnectionProblem`` for anything unusable."""
    if target.data_dir is not None or target.config is not None:
        return _from_server_settings(target)
    env = target.environ
    key_text = target.client_key_file or env.get("MAMORI_CLIENT_KEY_FILE")
    if key_text:
        return _with_client_key(target, Path(key_text).expanduser())
    profile_name = target.profile or env.get("ALIBABA_CLOUD_PROFILE") or None
    profile: dict[str, str] = {}
    if profile_name is None and env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"):
        ak = env["ALIBABA_CLOUD_ACCESS_KEY_ID"]
        secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
        if not secret:
            raise ConnectionProblem(
                "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"
            )
        token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None
    else:
        profile = read_profile(_credentials_path(target), profile_name or "default")
        ak, secret = profile["access_key_id"], profile["access_key_secret"]
        token = None
    endpoint, protocol, ca_file = _place(target, profile)
    return Resolved(
        endpoint=endpoint,
        protocol=protocol,
        ca_file=ca_file,
        access_key_id=ak,
        access_key_secret=secret,
        security_token=token,
    )


def _place(
    target: Target, profile: dict[str, str]
) -> tuple[str, Literal["http", "https"], Path | None]:
    """Endpoint, protocol and CA file: flag, then variable, then the profile, then defaults."""
    env = target.environ
    ca_text = target.ca_file or env.get("MAMORI_CA_FILE") or profile.get("mamori_ca_file")
    ca_file = Path(ca_text).expanduser() if ca_text else None
    if ca_file is not None and not ca_file.is_file():
        raise ConnectionProblem(f"no CA certificate at {ca_file}")
    protocol = target.protocol or env.get("MAMORI_PROTOCOL") or profile.get("mamori_protocol")
    protocol = protocol or "https"
    if protocol not in ("http", "https"):
        raise ConnectionProblem(f"the protocol must be http or https, not {protocol!r}")
    endpoint = (
        target.endpoint
        or env.get("MAMORI_ENDPOINT")
        or profile.get("mamori_endpoint")
        or DEFAULT_ENDPOINT
    )
    if "://" in endpoint or "/" in endpoint:
        raise ConnectionProblem(f"the endpoint is HOST:PORT without a scheme, not {endpoint!r}")
    return endpoint, "http" if protocol == "http" else "https", ca_file


def _with_client_key(target: Target, key_file: Path) -> Resolved:
    """The dedicated gateway with the client key in ``key_file`` (HTTPS only)."""
    env = target.environ
    password_text = target.client_key_password_file or env.get("MAMORI_CLIENT_KEY_PASSWORD_FILE")
    try:
        password = client_key_password(
            env_variable=PASSWORD_VARIABLE,
            file=Path(password_text).expanduser() if password_text else None,
            environ=env,
        )
        key = load_client_key(key_file, password)
    except ClientKeyError as exc:
        raise ConnectionProblem(str(exc)) from None
    endpoint, protocol, ca_file = _place(target, {})
    if protocol != "https":
        raise ConnectionProblem("the dedicated gateway (a client key) speaks https only")
    return Resolved(
        endpoint=endpoint,
        protocol=protocol,
        ca_file=ca_file,
        access_key_id="",
        access_key_secret="",
        client_key=key,
    )


def read_profile(path: Path, name: str) -> dict[str, str]:
    """A profile of an AccessKey from Alibaba's credentials file, which must be the owner's
    alone (mode 0600 or stricter): a readable secret is refused, not used."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConnectionProblem(
            f"no credentials file at {path} (set ALIBABA_CLOUD_CREDENTIALS_FILE or "
            "--credentials-file)"
        ) from None
    except OSError as exc:
        raise ConnectionProblem(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConnectionProblem(
            f"{path} is open to other users (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )
    ini = configparser.ConfigParser(interpolation=None)
    try:
        ini.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConnectionProblem(f"{path} is not a credentials file: {exc}") from None
    if not ini.has_section(name):
        raise ConnectionProblem(f"no profile [{name}] in {path}")
    section = dict(ini[name])
    kind = section.get("type", "access_key")
    if kind != "access_key":
        raise ConnectionProblem(
            f"profile [{name}] in {path} is of type {kind!r}; mamori reads access_key profiles"
        )
    if not section.get("access_key_id") or not section.get("access_key_secret"):
        raise ConnectionProblem(
            f"profile [{name}] in {path} needs access_key_id and access_key_secret"
        )
    return section


def _credentials_path(target: Target) -> Path:
    named = target.credentials_file or target.environ.get("ALIBABA_CLOUD_CREDENTIALS_FILE")
    return Path(named or DEFAULT_CREDENTIALS).expanduser()


def _from_server_settings(target: Target) -> Resolved:
    # The server's own settings (mamori.toml, MAMORI_*): only an operator on the server's
    # machine asks for them, so only then is the server's settings module loaded.
    from mamori.config import ConfigError, load_settings

    try:
        settings = load_settings(target.config, {"data_dir": target.data_dir}, target.environ)
    except ConfigError as exc:
        raise ConnectionProblem(str(exc)) from None
    profile = read_profile(settings.credentials_path, target.profile or "default")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    protocol = target.protocol or target.environ.get("MAMORI_PROTOCOL") or None
    if protocol not in (None, "http", "https"):
        raise ConnectionProblem(f"the protocol must be http or https, not {protocol!r}")
    endpoint = target.endpoint or f"{host}:{settings.port}"
    # The plain-HTTP listener only on this machine's loopback; a server listening on another
    # address is reached on its HTTPS listener (never the admin's key in clear), unless
    # --protocol http says otherwise.
    protocol = protocol or ("http" if loopback(endpoint) else "https")
    if protocol == "https" and target.endpoint is None:
        if not settings.tls_port:
            raise ConnectionProblem(
                f"the server listens on {settings.host}, not loopback, and has no HTTPS "
                "listener: give --endpoint 127.0.0.1:PORT, or --protocol http to send in clear"
            )
        endpoint = f"{host}:{settings.tls_port}"
    ca_text = target.ca_file or target.environ.get("MAMORI_CA_FILE")
    own_ca = settings.tls_dir / "ca.pem"
    ca_file = Path(ca_text) if ca_text else (own_ca if own_ca.is_file() else None)
    return Resolved(
        endpoint=endpoint,
        protocol="https" if protocol == "https" else "http",
        ca_file=ca_file if protocol == "https" else None,
        access_key_id=profile["access_key_id"],
        access_key_secret=profile["access_key_secret"],
    )
