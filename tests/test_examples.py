"""End to end over every example: golden record, standalone package, expected outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shimgen.render.generate import render_package
from shimgen.verify import verify
from tests.expected import EXAMPLES, ROOT, outputs, plan_of

GOLDEN = ROOT / "generated_examples"


@pytest.mark.parametrize("name", EXAMPLES)
def test_golden_record(name: str) -> None:
    """`shimgen verify` finds generated_examples/ in sync (else: `make examples`, or undo an edit)."""
    verdict = verify(GOLDEN / f"{name}_shim")
    assert verdict.ok, "\n".join(verdict.lines())


@pytest.mark.parametrize("name", EXAMPLES)
def test_generation_is_deterministic(name: str) -> None:
    plan = plan_of(name)
    assert render_package(plan) == render_package(plan)


def test_generated_code_never_imports_shimgen() -> None:
    for path in GOLDEN.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import shimgen" not in text and "from shimgen" not in text, path


@pytest.mark.parametrize("name", EXAMPLES)
def test_expected_translations(name: str) -> None:
    """Sample records translate, in every view and both directions, to the reviewed files."""
    for file, text in outputs(name).items():
        expected = (ROOT / "mappings" / "expected" / file).read_text(encoding="utf-8")
        assert text == expected, f"{file} differs: review, then `make expected`"


@pytest.mark.parametrize("name", EXAMPLES)
def test_generated_package_runs_standalone(name: str, tmp_path: Path) -> None:
    """The package's own tests pass with shimgen hidden from the import path."""
    package = GOLDEN / f"{name}_shim"
    env = {k: v for k, v in os.environ.items() if k not in ("SHIM_KEYS", "SHIM_KEYS_FILE")}
    env["PYTHONPATH"] = str(package)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = (
        "import sys; sys.modules['shimgen'] = None\n"  # any import of shimgen now fails
        "import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=package, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout


@pytest.mark.parametrize("name", EXAMPLES)
def test_generated_package_installs_with_pip(name: str, tmp_path: Path) -> None:
    """`pip install DIR` works, leaves the folder as generated (no build/, no *.egg-info/),
    and the installed package (models and openapi.json included) imports without shimgen."""
    site, source = tmp_path / "site", tmp_path / "src"
    shutil.copytree(GOLDEN / f"{name}_shim", source)
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before
    package = f"{name}_shim"
    assert (site / package / "openapi.json").is_file()
    code = (
        "import sys; sys.modules['shimgen'] = None\n"
        f"import {package}, {package}.internal_models, {package}.external_models\n"
        f"from {package}.runtime.core import keys\n"
        f"import {package}.runtime.audit.trail, {package}.runtime.service.app\n"  # every part installed
        "keys.install(keys.Keyset.generate())\n"
        f"print({package}.to_external({{}}, None))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("{")


def test_generated_package_without_keys_fails_clearly(tmp_path: Path) -> None:
    package = GOLDEN / "customer_shim"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIM_")}
    env["PYTHONPATH"] = str(package)
    code = "import customer_shim; customer_shim.to_external({'id': 'x'}, 'support')"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert run.returncode != 0
    assert "KeysetError" in run.stderr and "SHIM_KEYS" in run.stderr
