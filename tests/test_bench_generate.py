"""bench/generate.py keeps running (its --quick mode), and generated tests do not grow with the schema.

The benchmark itself is not a test (it takes minutes and its numbers depend on the
machine); this only makes sure it cannot rot, and checks the property it exists for:
the generated tests' code is the same for 100 and for 1,000 fields, because their
fixtures are data files (tests/canary.json, tests/http_canary.json), not literals.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from shimgen.check import check_mapping
from shimgen.initmap import initial_mapping
from shimgen.render.generate import render_package
from shimgen.schema.loader import load_schema
from shimgen.schema.model import iter_leaves

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "generate.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_generate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_the_table() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stdout + run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("synthetic 100 "))
    assert "blocked" not in row and "failed" not in row, row
    # fields, opened, then check, generate and the dmcg floor as "seconds s  MB MB", then ratios
    assert re.search(r"\b100\s+100\s+(\d+\.\d+ s\s+\d+ MB\s+){3}\s*\d+\.\d+x\s+\d+\.\d+x$", row), (
        row
    )
    assert "ms CPU per field" in run.stdout


@pytest.mark.parametrize("fields", [100, 1000])
def test_synthetic_schema_has_exactly_that_many_fields(
    bench: ModuleType, tmp_path: Path, fields: int
) -> None:
    path = tmp_path / "s.schema.json"
    path.write_text(json.dumps(bench.synthetic_schema(fields)), encoding="utf-8")
    leaves = list(iter_leaves(load_schema(path, None).root))
    assert len(leaves) == fields and not any(leaf.recursive for leaf in leaves)


def test_open_every_field_closes_what_check_refuses(bench: ModuleType, tmp_path: Path) -> None:
    """A required external field with no source closes its open siblings, so check passes."""
    schema = tmp_path / "s.schema.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "text": {
                        "type": "object",
                        "properties": {"status": {"type": "string"}, "div": {}},
                        "required": ["div"],
                    },
                },
            }
        ),
        encoding="utf-8",
    )
    mapping = tmp_path / "bench.shim.yaml"
    mapping.write_text(
        initial_mapping("bench", str(schema), str(schema), tmp_path), encoding="utf-8"
    )
    opened, reason = bench.open_every_field(mapping, tmp_path)
    assert (opened, reason) == (1, None)  # id; text.div is untyped, so text stays closed
    assert check_mapping(mapping).exit_code == 0


def test_real_model_list_is_read_from_the_readme(bench: ModuleType, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\nModels to run the whole chain on, one per line:\n\n```text\n"
        "a.json#private-user -> a.json#public-user\nb.json#charge\nc.json\n```\n",
        encoding="utf-8",
    )
    assert bench.real_models(readme) == [
        ("a.json#private-user", "a.json#public-user"),
        ("b.json#charge", "b.json#charge"),
        ("c.json", "c.json"),
    ]


def _package(bench: ModuleType, tmp_path: Path, fields: int) -> dict[str, str]:
    work = tmp_path / str(fields)
    work.mkdir()
    schema = work / "s.schema.json"
    schema.write_text(json.dumps(bench.synthetic_schema(fields)), encoding="utf-8")
    text = initial_mapping("bench", str(schema), str(schema), work)
    mapping = work / "bench.shim.yaml"
    mapping.write_text(text.replace(": drop  #", ": pass  #"), encoding="utf-8")
    result = check_mapping(mapping)
    assert result.plan is not None, [f.format() for f in result.findings]
    return render_package(result.plan)


def test_generated_test_code_does_not_grow_with_the_schema(
    bench: ModuleType, tmp_path: Path
) -> None:
    small, large = _package(bench, tmp_path, 100), _package(bench, tmp_path, 1000)
    for name in ("tests/test_translate.py", "tests/conftest.py", "tests/test_service.py"):
        assert small[name] == large[name], f"{name} embeds schema-sized data"
    for name in ("tests/canary.json", "tests/http_canary.json"):
        data = json.loads(large[name])
        assert _scalars(data["record"]) >= 1000, "the data file carries every field"
        assert [v["group"] for v in data["views"]] == [None]


def _scalars(doc: object) -> int:
    if isinstance(doc, dict):
        return sum(_scalars(v) for v in doc.values())
    if isinstance(doc, list):
        return sum(_scalars(v) for v in doc)
    return 1
