"""The mapping's ``tracking:`` reaches the generated app.py, and so do the classification
levels of each group's view (what heuristic tracking counts as pii/secret records)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from shimgen.check import check_mapping
from shimgen.mapping.model import Mapping
from shimgen.render.generate import render_package
from tests.expected import ROOT


def _spec_keywords(app_py: str) -> dict[str, object]:
    call = next(
        node.value
        for node in ast.parse(app_py).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SPEC"
    )
    assert isinstance(call, ast.Call)
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("classes_out", "tracking")}  # fmt: skip


def test_tracking_effects_from_the_mapping_reach_app_py(tmp_path: Path) -> None:
    text = (ROOT / "mappings" / "customer.shim.yaml").read_text(encoding="utf-8")
    mapping = tmp_path / "mappings" / "customer.shim.yaml"
    mapping.parent.mkdir()
    (tmp_path / "mappings" / "schemas").symlink_to(ROOT / "mappings" / "schemas")
    mapping.write_text(
        text + "\ntracking:\n  enumeration: deny\n  volume: flag\n", encoding="utf-8"
    )
    result = check_mapping(mapping)
    assert result.plan is not None, [f.format() for f in result.findings]
    app_py = render_package(result.plan)["customer_shim/app.py"]
    spec = _spec_keywords(app_py)
    assert spec["tracking"] == {"enumeration": "deny", "volume": "flag"}
    assert spec["classes_out"] == {"support": ("pii",), "billing": ("pii", "secret")}


def test_golden_app_py_logs_every_kind_by_default() -> None:
    app_py = (ROOT / "generated_examples/customer_shim/customer_shim/app.py").read_text()
    assert _spec_keywords(app_py)["tracking"] == {}


@pytest.mark.parametrize("bad", [{"enumeration": "ban"}, {"scraping": "deny"}])
def test_unknown_kinds_and_effects_are_refused(bad: dict[str, str]) -> None:
    base = {"shim": "a", "version": 1, "owner": "o", "internal": {"schema": "i.json"},
            "external": {"schema": "e.json"}, "fields": {}}  # fmt: skip
    Mapping.model_validate({**base, "tracking": {"probing": "flag"}})
    with pytest.raises(ValidationError):
        Mapping.model_validate({**base, "tracking": bad})
