"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

_PG_ENV = "SHIM_TEST_POSTGRES_URL"
_pg_start_error = ""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    """Under ``CI=true`` without a server URL, start the test server as `.ci/run` does.

    So ``CI=true make test`` on a fresh clone runs the PostgreSQL tests too. The
    URL goes into the environment, where the generated packages' tests (run in
    subprocesses) read it as well.
    """
    global _pg_start_error
    if not _in_ci() or os.environ.get(_PG_ENV, "").strip():
        return
    script = Path(__file__).resolve().parents[1] / ".ci" / "postgres.sh"
    try:
        done = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _pg_start_error = str(exc)
        return
    prefix = f"export {_PG_ENV}="
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(prefix)]
    if done.returncode != 0 or not lines:
        _pg_start_error = done.stderr.strip() or f".ci/postgres.sh exited {done.returncode}"
        return
    os.environ[_PG_ENV] = lines[-1][len(prefix) :]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a PostgreSQL database the tests may freely use, from ``SHIM_TEST_POSTGRES_URL``.

    Without it the PostgreSQL tests skip on a developer machine, but fail in CI
    (``CI=true``, where :func:`pytest_configure` tried to start the server): a CI
    run that silently skipped them would claim coverage it does not have.
    """
    url = os.environ.get(_PG_ENV, "").strip()
    if not url:
        how = f'{_PG_ENV} is not set; start a test server with: eval "$(.ci/postgres.sh)"'
        if _in_ci():
            why = f"; starting one failed: {_pg_start_error}" if _pg_start_error else ""
            pytest.fail(
                f"{how} (CI=true, so PostgreSQL tests may not be skipped){why}", pytrace=False
            )
        pytest.skip(how)
    return url
