"""Settings: defaults, then ``mamori.toml``, then ``MAMORI_*`` variables, then flags."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

_ENV_PREFIX = "MAMORI_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a server needs to start; each field has a flag, a variable and a TOML key."""

    data_dir: Path = Path("mamori-data")
    host: str = "127.0.0.1"
    port: int = 8080
    tls_port: int = 8443
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    host_names: tuple[str, ...] = ()
    region: str = "cn-hangzhou"
    account_id: str = "1234567890123456"
    store_url: str = ""
    root_key_file: Path | None = None
    jobs_interval: float = 60.0
    key_cache_size: int = 10_000
    max_body_bytes: int = 64 * 1024
    # The request line and headers together, and how many header fields (issue 9, item 3).
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    # Seconds to read a request whole, from its first byte (slowloris); see mamori/http/limits.
    request_read_timeout: float = 20.0
    # Open connections each listener serves; lowered at start to fit the process's fd limit.
    max_connections: int = 1000
    nonce_cache_entries: int = 8_000_000
    # Worker processes of this node (0: one per core), and this node's share of each KMS
    # instance's QPS (1/N for N nodes behind an even balancer).
    workers: int = 0
    instance_qps_share: float = 1.0
    log_level: str = "info"
    seal_provider: str = "file"
    hsm_module: Path | None = None
    hsm_token_label: str = ""
    # Kept out of repr so a logged or printed Settings never shows it.
    hsm_pin: str = field(default="", repr=False)
    hsm_root_key_label: str = "mamori/root"
    # The web console (docs/console.md): on the HTTPS listener unless turned off; on plain HTTP
    # only when the operator says so, since its session cookie would then cross the wire in clear.
    console: bool = True
    console_http: bool = False
    # Addresses (or CIDR blocks) of TLS-terminating proxies in front of the console: from
    # these peers only, X-Forwarded-Proto and X-Forwarded-For are believed (docs/console.md).
    console_trusted_proxies: tuple[str, ...] = ()
    # The audit log (docs/audit.md): "on", or "off" (no record at all; said loudly at start).
    audit: str = "on"
    # A segment is closed and the next one begun once it holds this many bytes.
    audit_segment_bytes: int = 64 * 1024 * 1024
    # This node's name in audit records and chain names (default: the host name).
    node_name: str = ""
    # Peers (addresses or CIDR blocks) that may read GET /metrics; empty: no /metrics at all.
    metrics_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        """The store URL, defaulting to a SQLite file in the data directory."""
        return self.store_url or f"sqlite:///{(self.data_dir / 'mamori.db').resolve()}"

    @property
    def root_key_path(self) -> Path:
        """Where the root key file lives."""
        return self.root_key_file or self.data_dir / "root.key"

    @property
    def hsm_enabled(self) -> bool:
        """Whether a PKCS#11 token is configured (for HSM keys, the seal, or both)."""
        return bool(self.hsm_token_label)

    @property
    def audit_dir(self) -> Path:
        """Where the audit chains live."""
        return self.data_dir / "audit"

    @property
    def tls_dir(self) -> Path:
        """Where Mamori keeps its own CA and server certificate."""
        return self.data_dir / "tls"

    @property
    def credentials_path(self) -> Path:
        """The administrator's AccessKey in Alibaba's credentials INI format."""
        return self.data_dir / "admin.credentials"


class ConfigError(ValueError):
    """A setting has a value Mamori cannot use."""


def _coerce(name: str, raw: Any) -> Any:
    target = {f.name: f for f in fields(Settings)}[name]
    kind = str(target.type)
    try:
        if kind.startswith("Path"):
            return None if raw in ("", None) else Path(str(raw))
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return _boolean(raw)
        if kind.startswith("tuple"):
            if isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            return tuple(str(part) for part in raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} has an invalid value {raw!r}") from exc


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _boolean(raw: Any) -> bool:
    """TOML booleans as they are; strings only in a spelling that cannot be misread."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(raw)


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge the layers; later layers win. Unknown TOML keys are an error, not a silent typo."""
    env = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)} - {"extra"}
    values: dict[str, Any] = {}

    path = config_file or (Path(env["MAMORI_CONFIG"]) if env.get("MAMORI_CONFIG") else None)
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        section = document.get("server", document)
        for key, raw in section.items():
            if isinstance(raw, dict):
                continue
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"unknown setting {key!r} in {path}")
            if name.startswith("hsm_"):
                # One place for them, where the PIN's file-mode rule applies.
                raise ConfigError(f"{key!r} in {path} belongs in the [hsm] table")
            values[name] = _coerce(name, raw)
        values.update(_hsm_section(document.get("hsm"), known, path))

    for name in known:
        raw_env = env.get(_ENV_PREFIX + name.upper())
        if raw_env is not None:
            values[name] = _coerce(name, raw_env)

    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(name, raw)

    settings = replace(Settings(), **values)
    if not settings.region or not settings.account_id.isdigit():
        raise ConfigError("region must be set and account_id must be digits")
    if settings.max_header_bytes < 1024 or settings.max_headers < 16:
        raise ConfigError("max_header_bytes must be at least 1024 and max_headers at least 16")
    if not 0 < settings.request_read_timeout <= 3600 or settings.max_connections < 1:
        raise ConfigError("request_read_timeout must be in (0, 3600] and max_connections >= 1")
    if not 0 <= settings.workers <= 256 or settings.nonce_cache_entries < 1:
        raise ConfigError("workers must be 0 (one per core) to 256, nonce_cache_entries positive")
    if not 0 < settings.instance_qps_share <= 1:
        raise ConfigError("instance_qps_share must be in (0, 1]")
    for setting in ("console_trusted_proxies", "metrics_allow"):
        for proxy in getattr(settings, setting):
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{setting}: {proxy!r} is not an IP address or CIDR block"
                ) from None
    if settings.audit not in ("on", "off"):
        raise ConfigError('audit must be "on" or "off"')
    if settings.audit_segment_bytes < 4096:
        raise ConfigError("audit_segment_bytes must be at least 4096")
    if settings.node_name and not _NODE_NAME.fullmatch(settings.node_name):
        raise ConfigError("node_name may hold letters, digits, '.', '_' and '-' (at most 64)")
    if settings.seal_provider not in _SEAL_PROVIDERS:
        raise ConfigError(f"seal_provider must be one of {', '.join(_SEAL_PROVIDERS)}")
    if settings.seal_provider == "pkcs11" and not settings.hsm_enabled:
        raise ConfigError("seal_provider = 'pkcs11' needs an [hsm] token_label")
    return settings


_SEAL_PROVIDERS = ("file", "pkcs11")
_NODE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _hsm_section(section: Any, known: set[str], path: Path) -> dict[str, Any]:
    """``[hsm]`` keys are the ``hsm_*`` settings without their prefix."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"[hsm] in {path} must be a table")
    if "pin" in section and stat.S_IMODE(path.stat().st_mode) & 0o077:
        # Same rule as the root key file: a secret others can read is refused, not used.
        raise ConfigError(f"{path} holds the HSM PIN and is readable by group or others")
    values: dict[str, Any] = {}
    for key, raw in section.items():
        name = "hsm_" + key.replace("-", "_")
        if name not in known:
            raise ConfigError(f"unknown setting {key!r} in [hsm] of {path}")
        values[name] = _coerce(name, raw)
    return values
