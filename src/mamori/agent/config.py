"""The agent's settings: the official KMS Agent's TOML layout, validated in one place.

The file has sections with PascalCase keys, as Alibaba's agent documents them. §D of the
protocol notes confirms the ``[Server]`` keys; the ``[Cache]``, ``[KMS]`` and ``[Log]`` key
names are not published, so Mamori chose them and also accepts each key's snake_case spelling
(``ttl_seconds`` for ``TTLSeconds``), and an AWS Secrets Manager Agent file's top-level keys
(``http_port``, ``ttl_seconds``, …). One table below lists every setting with its range; each
bad value gets one message naming the file, the key and what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

DEFAULT_PORT: Final = 2025
_PREFIX = re.compile(r"/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*/")
_KEY_ID = re.compile(r"[A-Za-z0-9:/_.-]{1,256}")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Prefixes the agent's own routes use; a PathPrefix equal to one would hide them.
_RESERVED_PREFIXES: Final = ("/secretsmanager/", "/mamori/", "/ping/")


class AgentConfigError(ValueError):
    """A setting has a value the agent cannot use (the message names it)."""


@dataclass(frozen=True, slots=True)
class EnvelopeKey:
    """A KMS key enabled for ``/v1/envelope/encrypt``, with its data-key cache limits."""

    key_id: str
    max_age_seconds: float
    max_messages: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything ``mamori agent`` needs; each field is one row of ``SETTINGS``."""

    http_port: int = DEFAULT_PORT
    ssrf_headers: tuple[str, ...] = ("X-KMS-Token", "X-Vault-Token")
    ssrf_env_variables: tuple[str, ...] = (
        "KMS_TOKEN",
        "KMS_SESSION_TOKEN",
        "KMS_CONTAINER_AUTHORIZATION_TOKEN",
    )
    path_prefix: str = "/v1/"
    max_conn: int = 800
    response_type: int = 0
    ignore_transient_errors: bool = True
    token_file: Path | None = None
    token_file_mode: int = 0o600
    start_degraded: bool = False
    max_header_bytes: int = 16 * 1024
    request_read_timeout_seconds: float = 10.0
    cache_size: int = 1000
    ttl_seconds: int = 300
    endpoint: str = "127.0.0.1:8443"
    protocol: str = "https"
    ca_file: Path | None = None
    region: str = "cn-hangzhou"
    timeout_seconds: float = 5.0
    role_arn: str = ""
    role_session_name: str = "mamori-agent"
    role_duration_seconds: int = 3600
    sts_endpoint: str = ""
    client_key_file: Path | None = None
    client_key_password_env: str = ""
    client_key_password_file: Path | None = None
    log_level: str = "info"
    envelope_max_age_seconds: float = 300.0
    envelope_max_messages: int = 10_000
    envelope_max_bytes: int = 1 << 30
    envelope_cache_size: int = 1000
    envelope_max_plaintext_bytes: int = 1 << 20
    envelope_keys: tuple[EnvelopeKey, ...] = field(default=())

    def envelope_key(self, key_id: str) -> EnvelopeKey | None:
        """The enabled envelope key named exactly ``key_id``."""
        return next((k for k in self.envelope_keys if k.key_id == key_id), None)


Check = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of the file: where it lives, what it sets, how it is checked."""

    section: str
    key: str
    attr: str
    check: Check
    rule: str  # what is allowed, for the error message
    aws_key: str = ""  # the AWS agent's top-level name, if it has one


def _int(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError
        return value

    return check


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        if not low <= value <= high:
            raise ValueError
        return float(value)

    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def _choice(*allowed: Any) -> Check:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or value not in allowed:
            raise ValueError
        return value

    return check


def _text(pattern: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError
        return value

    return check


def _names(pattern: re.Pattern[str]) -> Check:
    def check(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not 1 <= len(value) <= 16:
            raise ValueError
        if not all(isinstance(v, str) and pattern.fullmatch(v) for v in value):
            raise ValueError
        return tuple(value)

    return check


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(
        r"/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*/", value
    ):
        raise ValueError
    if value in _RESERVED_PREFIXES:
        raise ValueError
    return value


def _file(value: Any) -> Path | None:
    if not isinstance(value, str):
        raise ValueError
    if value == "":
        return None
    path = Path(value)
    if not path.is_file():
        raise ValueError
    return path


def _path(value: Any) -> Path | None:
    if not isinstance(value, str):
        raise ValueError
    return Path(value) if value else None


def _mode(value: Any) -> int:
    if value not in ("0600", "0640"):
        raise ValueError
    return int(value, 8)


_ENDPOINT = r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"

SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("Server", "HttpPort", "http_port", _int(1024, 65535), "an integer 1024–65535",
            "http_port"),
    Setting("Server", "SSRFHeaders", "ssrf_headers", _names(_HEADER_NAME),
            "a list of 1–16 header names", "ssrf_headers"),
    Setting("Server", "SSRFEnvVariables", "ssrf_env_variables", _names(_ENV_NAME),
            "a list of 1–16 environment variable names", "ssrf_env_variables"),
    Setting("Server", "PathPrefix", "path_prefix", _prefix,
            'a path such as "/v1/" (starts and ends with "/"; not /secretsmanager/, /mamori/, '
            "/ping/)", "path_prefix"),
    Setting("Server", "MaxConn", "max_conn", _int(1, 1000), "an integer 1–1000", "max_conn"),
    Setting("Server", "ResponseType", "response_type", _choice(0, 1, 2), "0, 1 or 2"),
    Setting("Server", "IgnoreTransientErrors", "ignore_transient_errors", _bool, "true or false",
            "ignore_transient_errors"),
    Setting("Server", "TokenFile", "token_file", _path, "a file path (empty: none)"),
    Setting("Server", "TokenFileMode", "token_file_mode", _mode, '"0600" or "0640"'),
    Setting("Server", "StartDegraded", "start_degraded", _bool, "true or false"),
    Setting("Server", "MaxHeaderBytes", "max_header_bytes", _int(1024, 1 << 20),
            "an integer 1024–1048576"),
    Setting("Server", "RequestReadTimeoutSeconds", "request_read_timeout_seconds",
            _number(1, 300), "a number of seconds 1–300"),
    Setting("Cache", "CacheSize", "cache_size", _int(1, 10_000), "an integer 1–10000",
            "cache_size"),
    Setting("Cache", "TTLSeconds", "ttl_seconds", _int(0, 3600),
            "an integer 0–3600 (0: no caching)", "ttl_seconds"),
    Setting("KMS", "Endpoint", "endpoint", _text(_ENDPOINT), "host:port, without a scheme"),
    Setting("KMS", "Protocol", "protocol", _choice("http", "https"), '"http" or "https"'),
    Setting("KMS", "CaFile", "ca_file", _file, "the path of a readable file (empty: none)"),
    Setting("KMS", "Region", "region", _text(r"[a-z0-9-]{1,64}"), "a region id such as cn-hangzhou",
            "region"),
    Setting("KMS", "TimeoutSeconds", "timeout_seconds", _number(0.1, 60), "a number 0.1–60"),
    Setting("Credentials", "RoleArn", "role_arn", _text(r"|acs:ram::[0-9]+:role/[^\s]{1,64}"),
            "acs:ram::<account>:role/<name> (empty: no role)"),
    Setting("Credentials", "RoleSessionName", "role_session_name", _text(r"[A-Za-z0-9_.@-]{2,64}"),
            "2–64 of A-Z a-z 0-9 _ . @ -"),
    Setting("Credentials", "DurationSeconds", "role_duration_seconds", _int(900, 43200),
            "an integer 900–43200"),
    Setting("Credentials", "StsEndpoint", "sts_endpoint", _text(r"|(https?://)?" + _ENDPOINT),
            "[http(s)://]host:port (empty: the KMS endpoint)"),
    # The dedicated gateway: the names of the official Secrets Manager client's
    # cache_client_dkms_config_info (clientKeyFile, passwordFromEnvVariable, passwordFromFilePath).
    Setting("Credentials", "ClientKeyFile", "client_key_file", _file,
            "the path of a ClientKeyContent file (empty: none)"),
    Setting("Credentials", "PasswordFromEnvVariable", "client_key_password_env",
            _text(r"|[A-Za-z_][A-Za-z0-9_]{0,127}"), "an environment variable name"),
    Setting("Credentials", "PasswordFromFilePath", "client_key_password_file", _file,
            "the path of a readable file (empty: none)"),
    Setting("Log", "Level", "log_level", _choice("debug", "info", "warning", "error"),
            "debug, info, warning or error", "log_level"),
    Setting("Envelope", "MaxAgeSeconds", "envelope_max_age_seconds", _number(1, 86400),
            "a number of seconds 1–86400"),
    Setting("Envelope", "MaxMessages", "envelope_max_messages", _int(1, 1 << 32),
            "an integer 1–4294967296"),
    Setting("Envelope", "MaxBytes", "envelope_max_bytes", _int(1, 1 << 40),
            "an integer 1–2^40"),
    Setting("Envelope", "CacheSize", "envelope_cache_size", _int(1, 100_000),
            "an integer 1–100000"),
    Setting("Envelope", "MaxPlaintextBytes", "envelope_max_plaintext_bytes",
            _int(1, 16 << 20), "an integer 1–16777216"),
)  # fmt: skip


def snake(key: str) -> str:
    """``TTLSeconds`` → ``ttl_seconds``, ``SSRFEnvVariables`` → ``ssrf_env_variables``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", key).lower()


# Every spelling a key may have in its section: PascalCase and snake_case.
_IN_SECTION: Final = {(s.section, name): s for s in SETTINGS for name in (s.key, snake(s.key))}
_AWS_KEYS: Final = {s.aws_key: s for s in SETTINGS if s.aws_key}
_SECTIONS: Final = frozenset(s.section for s in SETTINGS)
_ENVELOPE_KEY_FIELDS: Final = {
    "KeyId": "key_id",
    "MaxAgeSeconds": "max_age_seconds",
    "MaxMessages": "max_messages",
    "MaxBytes": "max_bytes",
}


def load_config(path: Path | None, overrides: Mapping[str, Any] | None = None) -> AgentConfig:
    """Defaults, then the file, then ``overrides`` (flags: attribute → value; None = unset)."""
    config = AgentConfig()
    if path is not None:
        config = _from_file(path)
    chosen = {k: v for k, v in (overrides or {}).items() if v is not None}
    if chosen:
        config = replace(config, **chosen)
    _check_together(config, str(path) if path else "flags")
    return config


def _from_file(path: Path) -> AgentConfig:
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AgentConfigError(f"{where}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AgentConfigError(f"{where}: not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}

    def put(setting: Setting, raw: Any, label: str) -> None:
        if setting.attr in values:
            raise AgentConfigError(
                f"{where}: {label} sets what {spelled[setting.attr]} already set; keep one"
            )
        try:
            values[setting.attr] = setting.check(raw)
        except ValueError:
            raise AgentConfigError(
                f"{where}: {label} must be {setting.rule}, got {raw!r}"
            ) from None
        spelled[setting.attr] = label

    for name, raw in data.items():
        if isinstance(raw, dict) and name in _SECTIONS:
            for key, value in raw.items():
                if name == "Envelope" and key in ("Keys", "keys"):
                    values["envelope_keys"] = raw
                    continue
                setting = _IN_SECTION.get((name, key))
                if setting is None:
                    raise AgentConfigError(f"{where}: [{name}] has no setting {key!r}")
                put(setting, value, f"[{name}] {key}")
        elif name in _AWS_KEYS:
            put(_AWS_KEYS[name], raw, name)
        else:
            raise AgentConfigError(f"{where}: unknown section or key {name!r}")
    envelope = values.pop("envelope_keys", None)
    config = replace(AgentConfig(), **values)
    if envelope is not None:
        keys = envelope.get("Keys", envelope.get("keys"))
        config = replace(config, envelope_keys=_envelope_keys(keys, config, where))
    return config


def _envelope_keys(raw: Any, config: AgentConfig, where: str) -> tuple[EnvelopeKey, ...]:
    """``[[Envelope.Keys]]`` tables: ``KeyId`` and optional limits (the section's by default)."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise AgentConfigError(f"{where}: [Envelope] Keys must be [[Envelope.Keys]] tables")
    keys: list[EnvelopeKey] = []
    for index, item in enumerate(raw):
        label = f"[[Envelope.Keys]] #{index + 1}"
        chosen: dict[str, Any] = {
            "max_age_seconds": config.envelope_max_age_seconds,
            "max_messages": config.envelope_max_messages,
            "max_bytes": config.envelope_max_bytes,
        }
        for key, value in item.items():
            attr = _ENVELOPE_KEY_FIELDS.get(key) or (
                key if key in _ENVELOPE_KEY_FIELDS.values() else None
            )
            if attr is None:
                raise AgentConfigError(f"{where}: {label} has no setting {key!r}")
            if attr == "key_id":
                if not isinstance(value, str) or not re.fullmatch(
                    r"[A-Za-z0-9:/_.-]{1,256}", value
                ):
                    raise AgentConfigError(f"{where}: {label} KeyId must be a key id, alias or ARN")
                chosen[attr] = value
                continue
            setting = next(s for s in SETTINGS if s.attr == f"envelope_{attr}")
            try:
                chosen[attr] = setting.check(value)
            except ValueError:
                raise AgentConfigError(
                    f"{where}: {label} {key} must be {setting.rule}, got {value!r}"
                ) from None
        if "key_id" not in chosen:
            raise AgentConfigError(f"{where}: {label} needs a KeyId")
        if any(k.key_id == chosen["key_id"] for k in keys):
            raise AgentConfigError(f"{where}: {label} repeats KeyId {chosen['key_id']!r}")
        keys.append(EnvelopeKey(**chosen))
    return tuple(keys)


def _check_together(config: AgentConfig, where: str) -> None:
    """Rules that involve several settings or come from flags, checked last."""
    if not 1024 <= config.http_port <= 65535:
        raise AgentConfigError(f"{where}: the port must be 1024–65535, got {config.http_port}")
    if not re.fullmatch(_ENDPOINT, config.endpoint):
        raise AgentConfigError(
            f"{where}: the endpoint must be host:port without a scheme, got {config.endpoint!r}"
        )
    if config.protocol not in ("http", "https"):
        raise AgentConfigError(f"{where}: the protocol must be http or https")
    if config.ca_file is not None and not config.ca_file.is_file():
        raise AgentConfigError(f"{where}: the CA file {config.ca_file} does not exist")
    if config.ca_file is not None and config.protocol != "https":
        raise AgentConfigError(f"{where}: a CA file needs the https protocol")
    _check_client_key(config, where)


def _check_client_key(config: AgentConfig, where: str) -> None:
    """A client key selects the dedicated gateway: HTTPS, a password source, no RAM role."""
    for path in (config.client_key_file, config.client_key_password_file):
        if path is not None and not path.is_file():
            raise AgentConfigError(f"{where}: the file {path} does not exist")
    password_given = bool(config.client_key_password_env or config.client_key_password_file)
    if config.client_key_file is None:
        if password_given:
            raise AgentConfigError(
                f"{where}: [Credentials] PasswordFromEnvVariable and PasswordFromFilePath need a "
                "ClientKeyFile"
            )
        return
    if not password_given:
        raise AgentConfigError(
            f"{where}: [Credentials] ClientKeyFile needs PasswordFromEnvVariable or "
            "PasswordFromFilePath (the client key's password)"
        )
    if config.protocol != "https":
        raise AgentConfigError(
            f"{where}: the dedicated gateway (ClientKeyFile) speaks https only: set [KMS] "
            "Protocol to https"
        )
    if config.role_arn:
        raise AgentConfigError(
            f"{where}: [Credentials] RoleArn and ClientKeyFile are two ways to authenticate; "
            "keep one"
        )
