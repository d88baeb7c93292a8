"""A generated package with elevated groups: its own access tests pass, standalone.

Until an example mapping declares an elevated group, the package is the
customer example generated as if its plan had one (``elevated_groups``), with
``billing`` elevated in its ``app.py`` the way the generator renders
``ShimSpec.elevated``. Its ``tests/test_access.py`` (rendered only then) runs
with shimgen hidden from the import path, like every generated test suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shimgen.render import generate, openapi
from tests.expected import plan_of

ELEVATE = """

# -- added by tests/test_generated_access.py: billing elevated, as the generator renders it
import dataclasses as _dataclasses

from .runtime.service.elevation import ElevatedSpec as _ElevatedSpec

SPEC = _dataclasses.replace(SPEC, elevated={ELEVATED})
"""
RULES = {
    "one-holder": "{'billing': _ElevatedSpec(3600, 2, frozenset({'support'}), 1, "
    "frozenset({'support'}), 900)}",
    "no-cap-no-glass": "{'billing': _ElevatedSpec(600, 1, frozenset({'support'}))}",
}


def write_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rules: str) -> Path:
    monkeypatch.setattr(openapi, "elevated_groups", lambda plan: ["billing"])
    monkeypatch.setattr(generate, "elevated_groups", lambda plan: ["billing"])
    files = generate.render_package(plan_of("customer"))
    root = tmp_path / "customer_shim"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    app = root / "customer_shim" / "app.py"
    app.write_text(app.read_text(encoding="utf-8") + ELEVATE.format(ELEVATED=rules))
    return root


@pytest.mark.parametrize("rules", sorted(RULES))
def test_generated_access_tests_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rules: str
) -> None:
    root = write_package(tmp_path, monkeypatch, RULES[rules])
    assert (root / "tests" / "test_access.py").is_file()
    assert "### Elevated access" in (root / "README.md").read_text(encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "PROMETHEUS_"))}
    env["PYTHONPATH"] = str(root)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = (
        "import sys; sys.modules['shimgen'] = None\n"
        "import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        "'-p', 'no:xdist', 'tests/test_access.py']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout


def test_without_elevated_groups_nothing_is_rendered() -> None:
    files = generate.render_package(plan_of("customer"))
    assert "tests/test_access.py" not in files
    assert "Elevated access" not in files["README.md"]
