"""The generated packages' own tests can fail: an inbound field that is not emitted is an error.

They once passed over inbound fields they could not find (inside arrays, or missing from the
output) with ``continue``, and skipped a view whose fields were all inside arrays: an inbound
field that stopped being emitted went unnoticed. Here the generated round-trip tests run
(translator and HTTP service) on an inbound field inside arrays, and on a fixture naming an
inbound field the output does not hold, which must fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from shimgen.render.generate import write_package
from tests.expected import ROOT, plan_of

ROUND_TRIPS = "test_inbound_round_trip"  # both the translator's and the service's


def run_generated(package: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The package's tests, as test_examples runs them: shimgen hidden from the import path."""
    env = {k: v for k, v in os.environ.items() if k not in ("SHIM_KEYS", "SHIM_KEYS_FILE")}
    env["PYTHONPATH"] = str(package)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = (
        "import sys; sys.modules['shimgen'] = None\n"
        f"import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', *{list(args)!r}]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=package, env=env, capture_output=True, text=True
    )


def test_inbound_fields_inside_arrays_round_trip(tmp_path: Path) -> None:
    """orders with `lines[].sku` inbound: the round trips carry it (no longer passed over)."""
    plan = plan_of("orders")
    sku = next(r for r in plan.rules if r.key == "lines[].sku")
    rules = tuple(replace(r, inbound=True) if r is sku else r for r in plan.rules)
    plan = replace(plan, rules=rules)
    write_package(plan, tmp_path)
    canary = json.loads((tmp_path / "tests" / "canary.json").read_text(encoding="utf-8"))
    pairs = [pair for view in canary["views"] for pair in view["inbound"]]
    assert [["lines", "[]", "sku"], ["items", "[]", "sku"]] in pairs
    proc = run_generated(tmp_path, "-k", ROUND_TRIPS, "-rs", "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert "skipped" not in summary and "deselected" in summary, summary
    groups = len(plan.groups)
    assert f"{2 * groups + 1} passed" in summary, summary  # every view, translator and HTTP


def test_an_inbound_field_missing_from_the_output_fails(tmp_path: Path) -> None:
    """The fixture names an inbound field (top level, and inside an array) that the output does
    not hold, as when the translator stops emitting it: both round trips fail and say which."""
    package = tmp_path / "customer_shim"
    shutil.copytree(ROOT / "generated_examples" / "customer_shim", package)
    for name in ("canary.json", "http_canary.json"):
        path = package / "tests" / name
        data = json.loads(path.read_text(encoding="utf-8"))
        for view in data["views"]:
            view["inbound"] += [[["status"], ["zz_gone"]], [["status"], ["zz_list", "[]", "x"]]]
        path.write_text(json.dumps(data), encoding="utf-8")
    proc = run_generated(package, "-k", ROUND_TRIPS, "tests")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    views = len(plan_of("customer").groups) + 1
    assert f"{2 * views - 1} failed" in summary and "passed" not in summary, summary
    assert "inbound field zz_gone is not in the output of view 'support'" in proc.stdout


def test_a_url_canary_does_not_fail_the_fail_closed_audit_test(tmp_path: Path) -> None:
    """A `format: uri` field's canary (`https://example.com/c54725`, as for GitHub's users)
    once failed the 503 test of every such shim: it looked for each canary value's first 8
    characters in the problem body, and `https://` starts the problem type too."""
    package = tmp_path / "customer_shim"
    shutil.copytree(ROOT / "generated_examples" / "customer_shim", package)
    path = package / "tests" / "http_canary.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["record"]["name"]["given"] = "https://example.com/c54725"
    path.write_text(json.dumps(data), encoding="utf-8")
    proc = run_generated(package, "-k", "unwritable_audit_sink_fails_closed", "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout.strip().splitlines()[-1], proc.stdout
