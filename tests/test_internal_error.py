"""A bug in shimgen is one line and exit 3 on every verb; ``--debug`` adds the traceback.

Each verb is forced into an internal error by making one function it really
calls raise, as a bug would, and the test asserts what the user sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen import __version__
from shimgen.cli import app
from shimgen.internal_error import internal_error_line
from tests.expected import ROOT

CUSTOMER = str(ROOT / "mappings" / "customer.shim.yaml")
SHIM_DIR = str(ROOT / "generated_examples" / "customer_shim")

# verb arguments, and the function (module, attribute) a bug is planted in
CASES: dict[str, tuple[list[str], str, str]] = {
    "init": (
        [
            "init",
            "x",
            "--internal",
            str(ROOT / "mappings/schemas/customer.internal.json"),
            "--external",
            str(ROOT / "mappings/schemas/customer.external.json"),
        ],
        "shimgen.initmap",
        "iter_leaves",
    ),
    "check": (["check", CUSTOMER], "shimgen.check.coverage", "coverage"),
    "generate": (["generate", CUSTOMER, "-o", "{tmp}/out"], "shimgen.render.generate", "make_meta"),
    "translate": (["translate", CUSTOMER, "--dev-keys"], "shimgen.translate", "run"),
    "review": (["review", CUSTOMER], "shimgen.review.cli", "build_report"),
    "diff": (["diff", CUSTOMER, CUSTOMER], "shimgen.diff", "compare"),
    "lint": (["lint", CUSTOMER], "shimgen.lint.cli", "lint_mapping"),
    "verify": (["verify", SHIM_DIR], "shimgen.verify", "_hashes"),
    "schema": (["schema"], "shimgen.mapping.model", "mapping_json_schema"),
}


def _plant(monkeypatch: pytest.MonkeyPatch, module: str, attribute: str) -> None:
    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planted\nbug")  # a newline too: the report must stay one line

    monkeypatch.setattr(f"{module}.{attribute}", bug)


@pytest.mark.parametrize("verb", sorted(CASES))
def test_internal_error_is_one_line_and_exit_3(
    verb: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args, module, attribute = CASES[verb]
    _plant(monkeypatch, module, attribute)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]

    result = CliRunner().invoke(app, args, input="{}\n")

    assert result.exit_code == 3, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("internal error: RuntimeError: planted bug at shimgen/")
    assert lines[-1].endswith(f"(shimgen {__version__}; please report)")
    assert "Traceback" not in result.stderr + result.stdout
    assert len([ln for ln in lines if "internal error" in ln]) == 1


@pytest.mark.parametrize("verb", ["check", "generate", "schema"])
def test_debug_shows_the_traceback(
    verb: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args, module, attribute = CASES[verb]
    _plant(monkeypatch, module, attribute)
    args = ["--debug", *(a.replace("{tmp}", str(tmp_path)) for a in args)]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 3
    assert "Traceback (most recent call last):" in result.stderr
    assert "in bug" in result.stderr  # the planted frame itself
    assert result.stderr.splitlines()[-1].startswith("internal error: RuntimeError")


def test_debug_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    args, module, attribute = CASES["check"]
    _plant(monkeypatch, module, attribute)
    monkeypatch.setenv("SHIMGEN_DEBUG", "1")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3
    assert "Traceback (most recent call last):" in result.stderr


def test_os_refusal_is_exit_2_not_a_bug(tmp_path: Path) -> None:
    """Writing under a path whose parent is a file is the user's input, not a crash.

    (``init -o`` makes missing parent folders, so a missing folder is no longer an error.)
    """
    args, _, _ = CASES["init"]
    (tmp_path / "plain").write_text("a file, not a folder")
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "plain" / "sub" / "m.yaml")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(("error: Not a directory: ", "error: File exists: ")), (
        result.stderr
    )
    assert "internal error" not in result.stderr


def test_a_working_verb_is_untouched() -> None:
    result = CliRunner().invoke(app, ["check", CUSTOMER])
    assert result.exit_code == 0
    assert "internal error" not in result.stderr


def test_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    text = " ".join(result.stdout.split())
    assert "3 internal error" in text
    assert "--debug" in text


def test_internal_error_line_cuts_long_messages() -> None:
    line = internal_error_line(ValueError("x" * 5000))
    assert len(line) < 500 and "\n" not in line
    assert line.startswith("internal error: ValueError: xxx") and "...(" not in line


def _module_run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SHIMGEN_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_python_dash_m_has_the_same_guard() -> None:
    """``python -m shimgen``: same verbs, same one line and exit 3 for a bug."""
    plant = (
        "import runpy, sys, shimgen.mapping.model as m\n"
        "def bug(): raise KeyError('planted')\n"
        "m.mapping_json_schema = bug\n"
        "sys.argv = ['shimgen', *sys.argv[1:]]\n"
        "runpy.run_module('shimgen', run_name='__main__')\n"
    )
    done = _module_run(plant, "schema")
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("internal error: KeyError: 'planted'")
    assert "Traceback" not in done.stderr
    version = subprocess.run(
        [sys.executable, "-m", "shimgen", "version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert (version.returncode, version.stdout.strip()) == (0, __version__)
