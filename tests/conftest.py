"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Generator
from pathlib import Path
from typing import NoReturn

import pytest

_PG_ENV = "SHIM_TEST_POSTGRES_URL"
_REDIS_ENV = "SHIM_TEST_REDIS_URL"
_PROMTOOL_ENV = "SHIM_TEST_PROMTOOL"
_start_errors: dict[str, str] = {}


def in_ci() -> bool:
    """The one CI predicate of the suite: ``CI`` set to anything but empty, ``0``, ``false`` or ``no``.

    CI services set ``CI=true``, some ``CI=1``; a test that read ``CI == "true"`` once let 75
    tests skip silently under ``CI=1``. Every test asks this function, never the variable.
    """
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip on a developer machine; under CI fail with the reason (CI must not claim a check
    it did not make). Any other skip is caught by :func:`pytest_runtest_makereport`."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this test may not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under CI, a skip of any origin (``skipif``, ``importorskip``, an empty parameter set, a
    plugin) is a failure that names the reason: "0 skipped under CI" holds by construction.

    A strict xfail is not a skip (its report carries ``wasxfail``) and passes through.
    """
    report = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI ({item.nodeid}): {reason}"
    return report


def pytest_configure(config: pytest.Config) -> None:
    """Under CI without a server URL, start the test servers as `.ci/run` does.

    So ``CI=true make test`` on a fresh clone runs the PostgreSQL and Redis tests
    too (and has promtool for the alerting rules). The URLs go into the environment, where the generated packages' tests
    (run in subprocesses) read them as well.
    """
    if not in_ci():
        return
    for variable, script in (
        (_PG_ENV, "postgres.sh"),
        (_REDIS_ENV, "redis.sh"),
        (_PROMTOOL_ENV, "promtool.sh"),
    ):
        if not os.environ.get(variable, "").strip():
            _start_server(variable, script)


def _start_server(variable: str, script: str) -> None:
    path = Path(__file__).resolve().parents[1] / ".ci" / script
    try:
        done = subprocess.run(
            ["bash", str(path)], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _start_errors[variable] = str(exc)
        return
    prefix = f"export {variable}="
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(prefix)]
    if done.returncode != 0 or not lines:
        _start_errors[variable] = done.stderr.strip() or f".ci/{script} exited {done.returncode}"
        return
    os.environ[variable] = lines[-1][len(prefix) :]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a PostgreSQL database the tests may freely use, from ``SHIM_TEST_POSTGRES_URL``.

    Without it the PostgreSQL tests skip on a developer machine, but fail in CI
    (where :func:`pytest_configure` tried to start the server): a CI
    run that silently skipped them would claim coverage it does not have.
    """
    return _server_url(_PG_ENV, "postgres.sh")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a Redis server the tests may freely use, from ``SHIM_TEST_REDIS_URL``.

    Like :func:`postgres_url`: skipped on a developer machine without it, a failure under CI.
    """
    return _server_url(_REDIS_ENV, "redis.sh")


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of Prometheus' ``promtool``, from ``SHIM_TEST_PROMTOOL`` (``.ci/promtool.sh``
    installs it): the generated alerting rules are evaluated by Prometheus' own engine.

    Like :func:`postgres_url`: skipped on a developer machine without it, a failure under CI.
    """
    return _server_url(_PROMTOOL_ENV, "promtool.sh")


def _server_url(variable: str, script: str) -> str:
    """The URL in ``variable``; else a skip (a failure under CI) saying how to start one."""
    url = os.environ.get(variable, "").strip()
    if not url:
        how = f'{variable} is not set; start a test server with: eval "$(.ci/{script})"'
        error = _start_errors.get(variable)
        skip_or_fail(how + (f"; starting one failed: {error}" if error else ""))
    return url
