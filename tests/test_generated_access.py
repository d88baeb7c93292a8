"""Generated packages with elevated groups: their own access tests pass, standalone.

The mappings are the customer example with ``billing`` elevated two ways
(tests/fixtures/elevated/: one holder, two approvals, an exclusion and
break-glass; no holder cap and no break-glass), so the generated tests' every
branch runs; the hr example's ``payroll-corrections`` runs in the golden
record (tests/test_examples.py). Each package is generated into a temporary
directory and its ``tests/test_access.py`` (rendered only for elevated groups)
runs with shimgen hidden from the import path, like every generated suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shimgen.check import check_mapping
from shimgen.render.generate import render_package

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "elevated"
MAPPINGS = sorted(FIXTURES.glob("*.shim.yaml"))
ROOT = Path(__file__).resolve().parent.parent


def write_package(mapping: Path, target: Path) -> Path:
    result = check_mapping(mapping)
    assert result.plan is not None, [f.format() for f in result.findings]
    for name, text in render_package(result.plan).items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


@pytest.mark.parametrize("mapping", MAPPINGS, ids=lambda p: p.name.split(".")[0])
def test_generated_access_tests_pass(tmp_path: Path, mapping: Path) -> None:
    root = write_package(mapping, tmp_path / "pkg")
    assert (root / "tests" / "test_access.py").is_file()
    assert "### Elevated access" in (root / "README.md").read_text(encoding="utf-8")
    assert "/v1/access/grants" in (root / "customer_shim" / "openapi.json").read_text()
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
    result = check_mapping(ROOT / "mappings" / "customer.shim.yaml")
    assert result.plan is not None
    files = render_package(result.plan)
    assert "tests/test_access.py" not in files
    assert "Elevated access" not in files["README.md"]
    assert "/v1/access/grants" not in files["customer_shim/openapi.json"]
