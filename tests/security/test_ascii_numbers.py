"""Attack class: text that Python reads as a number although it is not ASCII decimal.

``str.isdigit()`` is true for a superscript two, U+00B2 (then ``int()`` raises: a
500 and an ERROR log), and for an Arabic-Indic three, U+0663 (then ``int()`` gives
3: one object reachable under two spellings, past any check written for ASCII).
``float()`` and ``int()`` also take ``"1_000"``, ``"+5"`` and surrounding spaces.
Wherever the runtime turns text into a number, only ASCII decimal is accepted (:func:`shimgen.runtime.core.support.ascii_int`).
See docs/threat-model.md, "Strict input, one identity per caller".
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shimgen.runtime.core import support
from shimgen.runtime.core.errors import Problem, TranslationError
from shimgen.runtime.service import cli
from shimgen.runtime.service.app import RouteSpec, build_app
from shimgen.runtime.service.settings import ConfigError, Settings
from tests.service_support import KEYS_FILE, headers, make_spec, write_callers
from tests.test_service_runtime import assert_problem, audit_events

NOT_ASCII = ["\u00b2", "\u0663", "\uff11\uff12", "-\u0663", "4\u00b2", "1_000", "+5", " 5", "5 "]


def _to_internal(payload: dict[str, Any], group: str | None) -> dict[str, Any]:
    """``n`` (an external integer) stands for the customer uuid derived from it."""
    n = payload.get("n")
    if n.__class__ is not int:
        raise TranslationError([Problem("/n", "expected an integer")])
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, str(n)))}


@pytest.fixture
def numbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Settings]]:
    """A shim with one route whose path parameter is an integer field (``GET /n/{n}``)."""
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    spec = make_spec()
    spec.openapi["components"]["schemas"]["InboundPayload"]["properties"]["n"] = {"type": "integer"}
    route = RouteSpec(
        "GET", "/n/{n}", "GET", "/internal/customers/{id}",
        (("n", "n", "id", "id"),), frozenset({"support"}), (), False,
    )  # fmt: skip
    settings = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        upstream_url="http://127.0.0.1:9",  # nothing listens: a call that gets there is a 502
        upstream_timeout=0.5,
    )
    app = build_app(make_spec(openapi=spec.openapi, to_internal=_to_internal, routes=(route,)),
                    settings)  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, settings


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "-\u0663", "\uff14\uff12", "1_0", "+5"])
def test_proxy_integer_path_parameter_of_non_ascii_digits_is_404_not_500(
    numbered: tuple[TestClient, Settings], value: str, caplog: pytest.LogCaptureFixture
) -> None:
    client, settings = numbered
    assert_problem(client.get(f"/n/{value}", headers=headers()), 404)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    [event] = audit_events(settings)
    assert (event["outcome"], event["upstream_status"]) == (404, None)  # never forwarded


def test_proxy_integer_path_parameter_of_ascii_digits_is_forwarded(
    numbered: tuple[TestClient, Settings],
) -> None:
    client, _ = numbered
    for value in ("42", "-7"):  # reverses, reaches the (absent) upstream: 502
        assert_problem(client.get(f"/n/{value}", headers=headers()), 502)
    assert_problem(client.get(f"/n/{'9' * 30}", headers=headers()), 404)  # no int64 holds it


@pytest.mark.parametrize("value", NOT_ASCII)
def test_pass_reverse_to_int_takes_only_ascii_decimal(value: str) -> None:
    with pytest.raises(ValueError, match="expected a string of digits"):
        support.to_int(value)


def test_pass_reverse_to_int_keeps_ascii_decimal() -> None:
    assert [support.to_int(v) for v in ("0", "42", "-7", "9223372036854775807")] == [
        0, 42, -7, 9223372036854775807
    ]  # fmt: skip


@pytest.mark.parametrize("value", [*NOT_ASCII, "0", "-1"])
def test_cli_workers_takes_only_ascii_decimal(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli._positive(value)


def test_cli_workers_keeps_ascii_decimal() -> None:
    assert cli._positive("4") == 4


@pytest.mark.parametrize("value", ["\u00b2", "\u0663"])
def test_cli_failed_start_ignores_a_supervisor_pid_that_is_not_ascii_decimal(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed: list[int] = []
    monkeypatch.setattr(cli.os, "kill", lambda pid, sig: killed.append(pid))
    monkeypatch.setattr(cli.os, "getppid", lambda: 3)
    monkeypatch.delenv(cli._FAILED_ENV, raising=False)
    monkeypatch.setenv(cli._PARENT_ENV, value)
    cli._start_failed()  # neither raises nor signals
    assert killed == []


@pytest.mark.parametrize("value", ["\u0663", "\uff12.5", "1_000", "+5", "1e3", "inf", "nan", ".5"])
def test_float_setting_takes_only_ascii_decimal(value: str) -> None:
    """(Surrounding spaces are stripped from every setting, by design.)"""
    with pytest.raises(ConfigError):
        Settings.from_env({"SHIM_RATE_LIMIT": value})


def test_float_setting_keeps_ascii_decimal() -> None:
    assert Settings.from_env({"SHIM_RATE_LIMIT": "2.5"}).rate_limit == 2.5
    assert Settings.from_env({"SHIM_RATE_LIMIT": "5"}).rate_limit == 5.0
