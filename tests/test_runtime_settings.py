"""Tests for ``shimgen.runtime.service.settings``: environment parsing, validation, redaction."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shimgen.runtime.service.settings import ConfigError, Settings, redact_url

SECRET = "s3cr3t-Value-42"


def test_defaults_from_empty_environment() -> None:
    s = Settings.from_env({})
    assert s.callers_file is None
    assert s.audit_url == "sqlite:///./audit.db"
    assert (s.max_body_bytes, s.max_batch, s.max_depth) == (1_048_576, 1000, 32)
    assert (s.rate_limit, s.rate_burst) == (50.0, 100)
    assert s.upstream_timeout == 5.0
    assert s.instance == (socket.gethostname() or "shim")
    assert s.log_level == "INFO"
    assert s.access_log is True  # the access line is on unless SHIM_ACCESS_LOG=off
    assert s.upstream_url is None and s.upstream_env is None
    assert Settings() == s


def test_every_variable_is_read() -> None:
    env = {
        "SHIM_CALLERS_FILE": "/etc/shim/callers.yaml",
        "SHIM_AUDIT_URL": "jsonl:///var/log/shim/audit.jsonl",
        "SHIM_MAX_BODY_BYTES": "2048",
        "SHIM_MAX_BATCH": "10",
        "SHIM_MAX_DEPTH": "8",
        "SHIM_RATE_LIMIT": "2.5",
        "SHIM_RATE_BURST": "7",
        "SHIM_UPSTREAM_TIMEOUT": "0.25",
        "SHIM_REQUEST_TIMEOUT": "300",
        "SHIM_INSTANCE": "shim-eu-1",
        "SHIM_LOG_LEVEL": "debug",
        "SHIM_ACCESS_LOG": "Off",
        "CUSTOMER_UPSTREAM_URL": "https://internal.example:8443/api/",
    }
    s = Settings.from_env(env, upstream_env="CUSTOMER_UPSTREAM_URL")
    assert s == Settings(
        callers_file="/etc/shim/callers.yaml",
        audit_url="jsonl:///var/log/shim/audit.jsonl",
        max_body_bytes=2048,
        max_batch=10,
        max_depth=8,
        rate_limit=2.5,
        rate_burst=7,
        upstream_timeout=0.25,
        request_timeout=300.0,
        instance="shim-eu-1",
        log_level="DEBUG",
        access_log=False,
        upstream_url="https://internal.example:8443/api",  # trailing slash dropped for joining
        upstream_env="CUSTOMER_UPSTREAM_URL",
    )


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_MAX_BATCH", "3")
    assert Settings.from_env().max_batch == 3


def test_empty_and_blank_variables_count_as_unset() -> None:
    s = Settings.from_env({"SHIM_MAX_BATCH": "", "SHIM_AUDIT_URL": "  ", "SHIM_CALLERS_FILE": ""})
    assert s == Settings.from_env({})


def test_rate_limit_zero_means_off_and_is_valid() -> None:
    assert Settings.from_env({"SHIM_RATE_LIMIT": "0"}).rate_limit == 0.0


@pytest.mark.parametrize(
    "scheme_url",
    [
        "sqlite:///./audit.db",
        "sqlite:////var/lib/shim/audit.db",
        "postgresql://shim@db/audit",
        "postgres://shim@db/audit",
        "jsonl:///tmp/audit.jsonl",
    ],
)
def test_audit_url_schemes(scheme_url: str) -> None:
    assert Settings.from_env({"SHIM_AUDIT_URL": scheme_url}).audit_url == scheme_url


BAD_VALUES = [
    ("SHIM_MAX_BODY_BYTES", "1e6"),
    ("SHIM_MAX_BODY_BYTES", "-1"),
    ("SHIM_MAX_BODY_BYTES", "0"),
    ("SHIM_MAX_BATCH", "1_000"),
    ("SHIM_MAX_BATCH", "+5"),
    ("SHIM_MAX_DEPTH", "ten"),
    ("SHIM_RATE_BURST", "0"),
    ("SHIM_RATE_BURST", "2.5"),
    ("SHIM_RATE_LIMIT", "-1"),
    ("SHIM_RATE_LIMIT", "nan"),
    ("SHIM_RATE_LIMIT", "inf"),
    ("SHIM_RATE_LIMIT", "fast"),
    ("SHIM_UPSTREAM_TIMEOUT", "0.0"),
    ("SHIM_UPSTREAM_TIMEOUT", "-3"),
    ("SHIM_UPSTREAM_TIMEOUT", "soon"),
    ("SHIM_REQUEST_TIMEOUT", "29"),  # under the head's own 30 s
    ("SHIM_REQUEST_TIMEOUT", "3601"),
    ("SHIM_REQUEST_TIMEOUT", "nan"),
    ("SHIM_REQUEST_TIMEOUT", "a minute"),
    ("SHIM_AUDIT_URL", "mysql://root:hunter2@db/audit"),
    ("SHIM_AUDIT_URL", "sqlite://relative.db"),
    ("SHIM_AUDIT_URL", "/var/audit.db"),
    ("SHIM_LOG_LEVEL", "LOUD"),
    ("SHIM_ACCESS_LOG", "quiet"),
    ("SHIM_ACCESS_LOG", "0"),  # only on or off: a number or yes/no is a guess at what was meant
    ("SHIM_ACCESS_LOG", "no"),
    ("SHIM_INSTANCE", "bad\x00name"),
    ("SHIM_INSTANCE", "x" * 300),
]


@pytest.mark.parametrize(("var", "value"), BAD_VALUES)
def test_invalid_values_name_the_variable_and_never_echo_the_value(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({var: value})
    message = str(info.value)
    assert var in message
    assert value not in message
    assert isinstance(info.value, ValueError)
    assert info.value.variable == var  # what the start-up check names, without parsing


@pytest.mark.parametrize(
    "url",
    [
        "ftp://internal/api",
        "internal.example/api",
        "https:///no-host",
        "https://internal/api?token=" + SECRET,
        "https://internal/api#" + SECRET,
        "https://user:" + SECRET + "@internal:99999/api",
        "https://internal/ api",
    ],
)
def test_invalid_upstream_url_names_the_mapping_variable(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"CUSTOMER_UPSTREAM_URL": url}, upstream_env="CUSTOMER_UPSTREAM_URL")
    assert "CUSTOMER_UPSTREAM_URL" in str(info.value)
    assert info.value.variable == "CUSTOMER_UPSTREAM_URL"
    assert SECRET not in str(info.value)
    assert url not in str(info.value)


def test_upstream_variable_unset_leaves_url_none() -> None:
    s = Settings.from_env({}, upstream_env="CUSTOMER_UPSTREAM_URL")
    assert s.upstream_url is None
    assert s.upstream_env == "CUSTOMER_UPSTREAM_URL"


def test_upstream_url_without_path_is_kept() -> None:
    s = Settings.from_env({"U": "http://localhost:9000"}, upstream_env="U")
    assert s.upstream_url == "http://localhost:9000"


def test_repr_hides_passwords_in_urls() -> None:
    env = {
        "SHIM_AUDIT_URL": f"postgresql://shim:{SECRET}@db:5432/audit",
        "U": f"https://svc:{SECRET}@internal/api",
    }
    s = Settings.from_env(env, upstream_env="U")
    assert s.audit_url.endswith("@db:5432/audit")  # the real value is kept for use
    text = repr(s)
    assert SECRET not in text
    assert "postgresql://shim:***@db:5432/audit" in text
    assert "https://svc:***@internal/api" in text


def test_redact_url() -> None:
    assert redact_url("sqlite:///./audit.db") == "sqlite:///./audit.db"
    assert redact_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_url("http://[::1") == "<unparseable URL>"


def test_settings_are_frozen_and_replace_validates() -> None:
    s = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.max_batch = 5  # type: ignore[misc]
    small = dataclasses.replace(s, max_body_bytes=10, rate_limit=0)
    assert small.max_body_bytes == 10 and small.rate_limit == 0
    assert s.max_body_bytes == 1_048_576
    with pytest.raises(ConfigError, match="SHIM_MAX_BATCH"):
        dataclasses.replace(s, max_batch=0)
    with pytest.raises(ConfigError, match="SHIM_MAX_DEPTH"):
        dataclasses.replace(s, max_depth=True)
    with pytest.raises(ConfigError, match="SHIM_LOG_LEVEL"):
        dataclasses.replace(s, log_level="info")
    with pytest.raises(ConfigError, match="SHIM_ACCESS_LOG"):
        dataclasses.replace(s, access_log="off")  # type: ignore[arg-type]  # from_env parses words
    with pytest.raises(ConfigError, match="the upstream URL variable"):
        dataclasses.replace(s, upstream_url="nope")


@given(st.integers(min_value=1, max_value=10**12))
def test_any_positive_integer_round_trips(n: int) -> None:
    s = Settings.from_env({"SHIM_MAX_BATCH": str(n), "SHIM_RATE_BURST": f" {n} "})
    assert s.max_batch == n == s.rate_burst


@given(st.text(max_size=20))
def test_arbitrary_text_either_parses_or_raises_config_error(raw: str) -> None:
    for var in (
        "SHIM_MAX_BODY_BYTES",
        "SHIM_RATE_LIMIT",
        "SHIM_UPSTREAM_TIMEOUT",
        "SHIM_REQUEST_TIMEOUT",
        "SHIM_AUDIT_URL",
    ):
        for value in (raw, raw + SECRET):
            try:
                Settings.from_env({var: value})
            except ConfigError as exc:
                assert var in str(exc)
                assert SECRET not in str(exc)
