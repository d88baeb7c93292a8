"""Property: no schema and no mapping makes shimgen crash (issue 9, item 2).

Generated JSON Schemas and OpenAPI documents (``tests/fuzz_schemas.py``) and
mappings grown from ``init`` output (``tests/fuzz_mappings.py``) go through
``init``, ``check`` and ``generate`` on the real command line (typer's
CliRunner, in process). Every exit code must be 0, 1 or 2; exit 3 (an
internal error) or a traceback fails the property, and the failure message
carries the traceback (the commands run with ``--debug``).

Every example runs the real ``generate``: templates, ``ruff format`` and
datamodel-code-generator, files written. Under CI (``CI`` truthy) the main
property runs 2,000 examples (100 locally), derandomized and without an
example database, so every run is the same run; a second property runs
mappings that open every field they can.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
import typer
import typer.main
import typer.testing
from hypothesis import HealthCheck, Phase, assume, event, given, seed, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from shimgen.cli import app
from tests.conftest import in_ci
from tests.expected import ROOT
from tests.fuzz_mappings import mappings
from tests.fuzz_schemas import Doc, documents, property_features

IN_CI = in_ci()
# SHIMGEN_FUZZ_EXAMPLES=N runs N examples; SHIMGEN_FUZZ_RANDOM=1 explores new ones each run
# (hypothesis seeds; --hypothesis-seed=S replays). CI always runs the same fixed set.
_ASKED = int(os.environ.get("SHIMGEN_FUZZ_EXAMPLES", "0") or 0)
EXAMPLES = _ASKED or (2000 if IN_CI else 100)
FULL_EXAMPLES = max(_ASKED // 100, 8) if _ASKED else (20 if IN_CI else 8)
_EXPLORE = not IN_CI and os.environ.get("SHIMGEN_FUZZ_RANDOM", "") not in ("", "0")

_SETTINGS = {
    "deadline": None,
    "derandomize": not _EXPLORE,
    "database": None,
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}

runner = CliRunner()
_COMMAND = typer.main.get_command(app)


@contextmanager
def built_once() -> Iterator[None]:
    """typer rebuilds the click command on every invoke (~0.1 s); thousands of runs reuse one."""
    with mock.patch.object(typer.testing, "_get_command", lambda _app: _COMMAND):
        yield


def _run(*args: str) -> Result:
    """One shimgen command; after an internal error, again under --debug for the traceback.

    (Formatting a RecursionError's thousand frames costs a second, so not on every run.)
    """
    result = runner.invoke(app, list(args))
    if result.exit_code == 3 and not _excused(result.stderr):
        return runner.invoke(app, ["--debug", *args])
    return result


# TEMPORARY: crashes another engineer is fixing right now (issue 9), excused by their exact
# signature only; any other crash on the same input still fails. Delete each line when its
# fix lands on main. (owner, what, pattern on the `internal error:` line)
KNOWN_CRASHES: list[tuple[str, str, re.Pattern[str]]] = []
"""Crashes owned by work in progress elsewhere: (owner, what, signature). Empty: none excused."""
EXCUSED: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()  # "init 0", "generate 1", ...: the run was not vacuous


def _excused(output: str, count: bool = False) -> bool:
    for owner, what, pattern in KNOWN_CRASHES:
        if pattern.search(output):
            if count:
                EXCUSED[f"{owner}: {what}"] += 1
            return True
    return False


def assert_no_crash(result: Result, what: str) -> None:
    """Exit 0, 1 or 2 and no traceback; else fail with what the user would see."""
    output = result.stdout + result.stderr
    if result.exit_code == 3 and _excused(output, count=True):
        assume(False)  # a known crash another engineer owns: not counted as an example
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert result.exit_code in (0, 1, 2), f"{what}: exit {result.exit_code}\n{output}"
    assert "Traceback" not in output and "internal error" not in output, f"{what}\n{output}"
    OUTCOMES[f"{what.split()[0]} {result.exit_code}"] += 1
    event(f"{what} exit {result.exit_code}")


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Doc, Doc | None]:
    """An internal document, and an external one (None: the same document and model)."""
    internal = draw(documents())
    return internal, (draw(documents()) if draw(st.integers(0, 3)) == 0 else None)


def _spec(path: Path, doc: Doc) -> str:
    return f"{path}#{doc.model}" if doc.model is not None else str(path)


def chain(pair: tuple[Doc, Doc | None], data: st.DataObject, styles: tuple[str, ...] = ()) -> None:
    """init, check of init's own output, a random mapping's check, and generate."""
    internal, external = pair
    for feature in sorted(internal.features | property_features(internal.data)):
        event(feature)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("")  # the project root generate's lock is relative to
        in_path = root / "internal.json"
        in_path.write_text(internal.text(), encoding="utf-8")
        ex_doc = external or internal
        ex_path = in_path
        if external is not None:
            ex_path = root / "external.json"
            ex_path.write_text(external.text(), encoding="utf-8")
        mapping = root / "fz.shim.yaml"
        started = _run(
            "init",
            "fz",
            "--internal",
            _spec(in_path, internal),
            "--external",
            _spec(ex_path, ex_doc),
            "-o",
            str(mapping),
        )
        assert_no_crash(started, "init")
        if started.exit_code != 0:
            return
        assert_no_crash(_run("check", str(mapping)), "check of init's output")
        external_listing = started_text = mapping.read_text(encoding="utf-8")
        if external is not None or ex_doc.model != internal.model:
            spec = _spec(ex_path, ex_doc)
            listed = _run("init", "ex", "--internal", spec, "--external", spec)
            external_listing = listed.stdout if listed.exit_code == 0 else ""
        grown = mappings(started_text, external_listing, *([styles] if styles else []))
        mapping.write_text(data.draw(grown), encoding="utf-8")
        # generate checks first (same findings, same exit 1), so no separate `check` run
        assert_no_crash(_run("generate", str(mapping), "-o", str(root / "out")), "generate")


# The examples run in SHARDS tests of their own (about 25 s each in CI), each from a fixed seed of its own, so that
# pytest-xdist spreads them over the CPUs (one test of them all would keep one CPU busy for
# minutes while the other idles). Exploring (SHIMGEN_FUZZ_RANDOM) draws fresh seeds instead.
SHARDS = 8
_SHARD_SETTINGS = {**_SETTINGS, "derandomize": False}


def _property(shard: int) -> None:
    @settings(max_examples=max(1, EXAMPLES // SHARDS), **_SHARD_SETTINGS)  # type: ignore[arg-type]
    @given(pair=pairs(), data=st.data())
    def run(pair: tuple[Doc, Doc | None], data: st.DataObject) -> None:
        chain(pair, data)

    (run if _EXPLORE else seed(shard)(run))()


@settings(max_examples=FULL_EXAMPLES, **_SETTINGS)  # type: ignore[arg-type]
@given(pair=pairs(), data=st.data())
def _full_property(pair: tuple[Doc, Doc | None], data: st.DataObject) -> None:
    chain(pair, data, styles=("open-all",))  # few examples: spend them where code is generated


def _report_and_check_coverage(examples: int) -> None:
    """Print what ran (pytest -s shows it) and fail if too few examples reached generation."""
    print(f"\nfuzz outcomes: {dict(sorted(OUTCOMES.items()))}")
    print(f"excused (owned by others, see KNOWN_CRASHES): {dict(EXCUSED)}")
    assert OUTCOMES["generate 0"] >= max(1, examples // 20), OUTCOMES  # generate really ran


# ~0.1 s of CPU an example on an idle machine (datamodel-code-generator and ruff format
# included): about 3.5 min of CPU for the 2,000 CI examples, spread over the shards.
@pytest.mark.timeout(1800)
@pytest.mark.filterwarnings("ignore::UserWarning")  # datamodel-code-generator's dropped constraints
@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_schema_or_mapping_crashes_init_check_generate(shard: int) -> None:
    OUTCOMES.clear()
    with built_once():
        _property(shard)
    _report_and_check_coverage(max(1, EXAMPLES // SHARDS))


@pytest.mark.filterwarnings("ignore::UserWarning")  # datamodel-code-generator's dropped constraints
def test_no_schema_crashes_real_generation() -> None:
    """The same chain on mappings that open every field they can, where most code is generated."""
    OUTCOMES.clear()
    with built_once():
        _full_property()
    _report_and_check_coverage(FULL_EXAMPLES)


def test_features_are_seen() -> None:
    """The odd-name statistics (pytest --hypothesis-show-statistics) see names where they are."""
    found = property_features({"properties": {"a.b": {}, "on": {"properties": {"名": {}}}}})
    assert {"prop-path-char-name", "prop-yaml-word-name", "prop-unicode-name"} <= found


def test_an_unknown_crash_fails_the_property(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the exact signatures in KNOWN_CRASHES are excused; any other exit 3 is a failure."""

    def bug(*args: object, **kwargs: object) -> None:
        raise KeyError("not a known crash")

    monkeypatch.setattr("shimgen.check.coverage.coverage", bug)
    result = _run("check", str(ROOT / "mappings" / "customer.shim.yaml"))
    assert result.exit_code == 3
    assert "Traceback" in result.stderr  # rerun under --debug for the failure message
    with pytest.raises(AssertionError, match="exit 3"):
        assert_no_crash(result, "check")
