"""Settings layer defaults < mamori.toml < MAMORI_* variables < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.config import ConfigError, load_settings


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert (settings.host, settings.port, settings.tls_port) == ("127.0.0.1", 8080, 8443)
    assert settings.region == "cn-hangzhou"
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "mamori-data/mamori.db"
    )


def test_layers_override_in_order(tmp_path: Path) -> None:
    toml = tmp_path / "mamori.toml"
    toml.write_text(
        '[server]\nport = 9000\nregion = "cn-shanghai"\nhost_names = ["kms.example"]\n'
        'store_url = "postgresql://u@db/m"\n'
    )
    settings = load_settings(toml, {"region": "cn-beijing"}, environ={"MAMORI_PORT": "9100"})
    assert settings.port == 9100
    assert settings.region == "cn-beijing"
    assert settings.host_names == ("kms.example",)
    assert settings.database_url == "postgresql://u@db/m"


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    toml = tmp_path / "m.toml"
    toml.write_text("tls_port = 0\n")
    assert load_settings(environ={"MAMORI_CONFIG": str(toml)}).tls_port == 0


@pytest.mark.parametrize(
    "text", ["prot = 1\n", "port = 'eighty'\n", "account_id = 'abc'\n", "[server\n"]
)
def test_bad_config_is_an_error_not_a_silent_default(tmp_path: Path, text: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError):
        load_settings(toml, environ={})


def test_the_hsm_section_and_the_pin_from_the_environment(tmp_path: Path) -> None:
    toml = tmp_path / "m.toml"
    toml.write_text(
        'seal_provider = "file"\n[hsm]\nmodule = "/x.so"\ntoken_label = "t"\npin = "p"\n'
    )
    toml.chmod(0o600)
    settings = load_settings(toml, environ={"MAMORI_HSM_PIN": "from-env"})
    assert (settings.hsm_module, settings.hsm_token_label) == (Path("/x.so"), "t")
    assert settings.hsm_pin == "from-env"
    assert settings.hsm_enabled
    assert "from-env" not in repr(settings)


@pytest.mark.parametrize(
    "text",
    [
        '[hsm]\npim = "typo"\n',
        'seal_provider = "vault"\n',
        'seal_provider = "pkcs11"\n',
        # HSM settings outside [hsm] would dodge the PIN's file-mode rule.
        'hsm_pin = "p"\n',
        '[server]\nhsm_pin = "p"\n',
    ],
)
def test_bad_hsm_settings_are_errors(tmp_path: Path, text: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError):
        load_settings(toml, environ={})


def test_a_pin_in_a_readable_config_file_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "m.toml"
    toml.write_text('[hsm]\ntoken_label = "t"\npin = "p"\n')
    toml.chmod(0o644)
    with pytest.raises(ConfigError, match="PIN"):
        load_settings(toml, environ={})


def test_console_settings_are_booleans_spelled_unambiguously() -> None:
    default = load_settings(environ={})
    assert default.console is True and default.console_http is False
    on = load_settings(environ={"MAMORI_CONSOLE_HTTP": "true", "MAMORI_CONSOLE": "off"})
    assert on.console_http is True and on.console is False
    with pytest.raises(ConfigError, match="setting 'console_http' has an invalid value 'maybe'"):
        load_settings(environ={"MAMORI_CONSOLE_HTTP": "maybe"})


def test_console_trusted_proxies_are_addresses_or_blocks() -> None:
    assert load_settings(environ={}).console_trusted_proxies == ()
    named = load_settings(environ={"MAMORI_CONSOLE_TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/24"})
    assert named.console_trusted_proxies == ("10.0.0.5", "192.168.0.0/24")
    with pytest.raises(ConfigError, match=r"'proxy\.example' is not an IP address or CIDR block"):
        load_settings(environ={"MAMORI_CONSOLE_TRUSTED_PROXIES": "proxy.example"})
