"""Under CI nothing skips: the one predicate, and the hook in conftest that turns skips into failures.

A CI run that skipped a test claims a check it did not make; it once let 75 tests skip
silently under ``CI=1`` because one file read ``CI == "true"``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import in_ci
from tests.expected import ROOT

SKIPPING = """
import pytest

def test_skip_call():
    pytest.skip("call-time reason")

@pytest.fixture
def needs_server():
    pytest.skip("fixture reason")

def test_skip_fixture(needs_server):
    pass

@pytest.mark.skipif(True, reason="marker reason")
def test_skipif():
    pass

def test_importorskip():
    pytest.importorskip("zz_no_such_module")

@pytest.mark.parametrize("x", [])
def test_empty_parameters(x):
    pass

@pytest.mark.xfail(strict=True, reason="a known bug")
def test_known_bug():
    assert False

def test_passes():
    pass
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("True", True),
        ("on", True),
        ("anything", True),
        ("", False),
        ("0", False),
        ("false", False),
        ("no", False),
    ],
)
def test_one_predicate_accepts_any_truthy_value(
    value: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_no_test_reads_the_ci_variable_itself() -> None:
    """Every test asks conftest.in_ci(); a file comparing ``CI`` itself is how skips slipped by."""
    reading = re.compile(r"""environ(\.get)?\(?\[?["']CI["']""")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if path.name != "conftest.py" and reading.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def _run(tmp_path: Path, ci: str | None) -> str:
    (tmp_path / "test_skipping.py").write_text(SKIPPING, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_makereport  # noqa: F401\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    env["SHIM_TEST_POSTGRES_URL"] = "postgresql://unused/"  # keeps pytest_configure idle
    env["SHIM_TEST_REDIS_URL"] = "redis://unused/"
    env["SHIM_TEST_PROMTOOL"] = "/unused/promtool"
    if ci is not None:
        env["CI"] = ci
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-rA"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.stdout + proc.stderr


def test_under_ci_every_skip_fails_with_its_reason(tmp_path: Path) -> None:
    out = _run(tmp_path, "1")
    summary = out.strip().splitlines()[-1]
    assert "skipped" not in summary, out
    assert "1 passed" in summary and "1 xfailed" in summary, out
    # a skip at setup (fixture, skipif, empty parameters) becomes an error, at call a failure
    assert "2 failed" in summary and "3 errors" in summary, out
    for reason in (
        "call-time reason",
        "fixture reason",
        "marker reason",
        "zz_no_such_module",
        "got empty parameter set",
    ):
        assert reason in out, reason


def test_outside_ci_skips_stay_skips(tmp_path: Path) -> None:
    summary = _run(tmp_path, None).strip().splitlines()[-1]
    assert "5 skipped" in summary and "1 passed" in summary and "1 xfailed" in summary, summary
    assert not re.search(r"\b(failed|errors?)\b", summary), summary
