"""Shared test fixtures."""

from __future__ import annotations

import os

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a PostgreSQL database the tests may freely use, from ``SHIM_TEST_POSTGRES_URL``.

    Without it the PostgreSQL tests skip on a developer machine, but fail in CI
    (``CI=true``): a CI run that silently skipped them would claim coverage it
    does not have.
    """
    url = os.environ.get("SHIM_TEST_POSTGRES_URL", "").strip()
    if not url:
        how = (
            'SHIM_TEST_POSTGRES_URL is not set; start a test server with: eval "$(.ci/postgres.sh)"'
        )
        if _in_ci():
            pytest.fail(f"{how} (CI=true, so PostgreSQL tests may not be skipped)", pytrace=False)
        pytest.skip(how)
    return url
