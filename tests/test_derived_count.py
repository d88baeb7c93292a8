"""``derived: {n: {count: path}}``: the number of items of an internal array, never the items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shimgen.check import check_mapping
from shimgen.diff import diff_specs
from shimgen.review.model import build_report
from tests.expected import translator

INTERNAL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "dependants": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string", "x-classification": "pii"}},
            },
        },
        "nickname": {"type": "string"},
    },
    "required": ["id"],
}
EXTERNAL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "dependantsCount": {"type": "integer"},
        "label": {"type": "string"},
    },
}


def _mapping(tmp: Path, derived: dict[str, Any], label: str = "m") -> Path:
    (tmp / "internal.json").write_text(json.dumps(INTERNAL))
    (tmp / "external.json").write_text(json.dumps(EXTERNAL))
    doc = {
        "shim": "payroll",
        "version": 1,
        "owner": "tests",
        "internal": {"schema": "internal.json"},
        "external": {"schema": "external.json"},
        "fields": {"id": "pass", "dependants": "drop", "nickname": "drop"},
        "derived": derived,
    }
    path = tmp / f"{label}.shim.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_count_translates_to_the_number_of_items(tmp_path: Path) -> None:
    result = check_mapping(_mapping(tmp_path, {"dependantsCount": {"count": "dependants"}}))
    assert result.plan is not None, [f.format() for f in result.findings]
    with translator(result.plan) as mod:
        two = mod.to_external({"id": "e1", "dependants": [{"name": "Ann"}, {"name": "Bo"}]})
        none = mod.to_external({"id": "e2"})
        empty = mod.to_external({"id": "e3", "dependants": []})
        with pytest.raises(Exception, match="expected an array"):
            mod.to_external({"id": "e4", "dependants": "Ann, Bo"})
    assert two == {"id": "e1", "dependantsCount": 2}  # the names never leave
    assert none == {"id": "e2"}
    assert empty == {"id": "e3", "dependantsCount": 0}


@pytest.mark.parametrize(
    ("derived", "message"),
    [
        ({"dependantsCount": {"count": "nickname"}}, "`count:` needs an array outside arrays"),
        ({"dependantsCount": {"count": "dependants[].name"}}, "inside an array"),
        ({"label": {"count": "dependants"}}, "a count yields an integer"),
        (
            {"dependantsCount": {"count": "dependants", "from": ["id"]}},
            "`from:` does not apply",
        ),
        ({"dependantsCount": {"count": "dependants", "const": 1}}, "exactly one of"),
        ({"dependantsCount": {"count": "nothing"}}, "nothing"),
    ],
)
def test_count_is_checked(tmp_path: Path, derived: dict[str, Any], message: str) -> None:
    result = check_mapping(_mapping(tmp_path, derived))
    assert result.plan is None
    assert any(message in f.format() for f in result.findings), [
        f.format() for f in result.findings
    ]


def test_review_and_diff_name_the_count(tmp_path: Path) -> None:
    old = _mapping(tmp_path, {}, "old")
    new = _mapping(tmp_path, {"dependantsCount": {"count": "dependants"}}, "new")
    result = check_mapping(new)
    assert result.plan is not None
    report = build_report(result)
    (row,) = report.derived
    assert row.how == "number of items"
    changes = diff_specs(str(old), str(new)).changes
    shown = [c for c in changes if c.subject == "derived.dependantsCount"]
    assert shown and shown[0].new == "count of dependants", shown


def test_the_audit_trail_and_the_generated_readme_name_the_count(tmp_path: Path) -> None:
    """The audit's field list called a count `const` (it has no template); it is `count`."""
    from shimgen.render.generate import field_table
    from shimgen.render.servicespec import fields_out

    result = check_mapping(_mapping(tmp_path, {"dependantsCount": {"count": "dependants"}}))
    assert result.plan is not None
    assert "dependantsCount:count" in fields_out(result.plan, None)
    row = field_table(result.plan)[-1]
    assert row["internal"] == "derived from `dependants`"
    assert row["external"] == "dependantsCount"
    assert set(row["cells"]) == {"count"} and row["inbound"] is False
