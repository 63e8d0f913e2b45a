"""Settings from VIEWCOUNT_ variables: defaults, empty values as unset, parsing and bounds."""

from __future__ import annotations

import hashlib
import ipaddress
import os

import pytest
from pydantic import ValidationError

from service.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("VIEWCOUNT_")]:
        monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert settings.redis_url is None and settings.admin_token is None and settings.secret is None
    assert settings.log_json is None  # readable on a terminal, JSON elsewhere (service/logs.py)
    assert (settings.rollup_interval_s, settings.dedupe_window_s, settings.max_body_bytes) == (
        60.0,
        1800,
        4096,
    )
    assert settings.origins == ("*",) and settings.proxy_networks == ()


def test_an_empty_variable_means_unset_for_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """`.env` files and compose's ${VAR:-} set variables to "": that is no value, not a bad one."""
    for name in Settings.model_fields:
        monkeypatch.setenv(f"VIEWCOUNT_{name.upper()}", "")
    assert Settings() == Settings.model_construct()
    assert Settings().admin_token is None  # not "too short"


@pytest.mark.parametrize(("value", "parsed"), [("true", True), ("false", False), ("1", True)])
def test_log_json_forces_either(monkeypatch: pytest.MonkeyPatch, value: str, parsed: bool) -> None:
    monkeypatch.setenv("VIEWCOUNT_LOG_JSON", value)
    assert Settings().log_json is parsed


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROLLUP_INTERVAL_S", "0"),
        ("MAX_FORWARDED_HOPS", "257"),
        ("MAX_BODY_BYTES", "63"),
        ("LOG_JSON", "sometimes"),
        ("REDIS_CLUSTER", "maybe"),
    ],
)
def test_out_of_bounds_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"VIEWCOUNT_{name}", value)
    with pytest.raises(ValidationError):
        Settings()


def test_lists_and_networks_are_parsed_once() -> None:
    settings = Settings(
        allowed_origins=" https://a.example , https://b.example ,,",
        trusted_proxies="10.1.2.3/8, fd00::/8",
    )
    assert settings.origins == ("https://a.example", "https://b.example")
    assert settings.proxy_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )


def test_the_secret_becomes_a_blake2b_key() -> None:
    assert Settings(secret="s" * 64).secret_key == b"s" * 64
    long = "s" * 65
    assert Settings(secret=long).secret_key == hashlib.blake2b(long.encode()).digest()
    with pytest.raises(ValueError, match="VIEWCOUNT_SECRET is not set"):
        _ = Settings().secret_key
    assert "s" * 10 not in repr(Settings(secret=long))


def test_the_leader_lease_follows_the_interval() -> None:
    assert [Settings(rollup_interval_s=s).lease_s for s in (0.5, 10, 60, 600)] == [
        1.0,
        5.0,
        30.0,
        30.0,
    ]
    assert Settings(rollup_interval_s=60, leader_lease_s=7).lease_s == 7


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().rollup_interval_s = 1  # type: ignore[misc]


@pytest.mark.parametrize("name", ["Europe/Kyiv", "UTC", "America/New_York", "Asia/Kolkata"])
def test_the_time_zone_is_an_iana_name(name: str) -> None:
    settings = Settings(timezone=name)
    assert settings.zone.key == name


@pytest.mark.parametrize("name", ["Europe/Kiyv", "Europe", "/etc/localtime", "../zone", "zone.tab"])
def test_an_unknown_time_zone_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="not an IANA time zone name"):
        Settings(timezone=name)


def test_the_default_time_zone_is_utc() -> None:
    assert Settings().zone.key == "UTC"
