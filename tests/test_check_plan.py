"""``check`` reports one way and builds its plan once.

Every stage (the resolver, the routes, the whole-mapping checks) reports
through the run's one ``Report``; none writes into the loaded mapping, which
keeps only what the loader found. The plan is built once from what was
resolved, frozen: a variant is ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shimgen.check import build_plan, check_mapping
from shimgen.check.report import Report
from shimgen.diagnostics import Code, Finding
from shimgen.mapping.load import load_mapping

BAD = Path(__file__).resolve().parent / "fixtures" / "bad"
BASE = BAD / "base.shim.yaml"

DEFECTS = (
    # (text in the base mapping, replacement, the code it brings, the stage that finds it)
    (
        "  score: {to: score, treat: {round: 1}}",
        "  score: {to: score, treat: {round: x}}",
        Code.BAD_TREATMENT,
    ),  # resolver
    ("  cards[].cvv: drop\n", "", Code.UNCOVERED_FIELD),  # whole-mapping coverage
    ("    groups: [billing]\n", "    groups: []\n", Code.ROUTE_GROUPS),  # routes
)


def _copy(tmp: Path, *subs: tuple[str, str]) -> Path:
    text = BASE.read_text(encoding="utf-8")
    for old, new in subs:
        assert old in text, old
        text = text.replace(old, new)
    text = text.replace("schemas/person.", f"{BAD / 'schemas'}/person.")
    path = tmp / "m.shim.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_stage_reports_to_one_list_and_none_writes_into_the_mapping(tmp_path: Path) -> None:
    path = _copy(tmp_path, *((old, new) for old, new, _ in DEFECTS))
    result = check_mapping(path)
    assert {f.code for f in result.findings} == {code for _, _, code in DEFECTS}
    assert result.findings == sorted(result.findings, key=Finding.sort_key)
    assert result.loaded.findings == [], "check stages do not write into the loaded mapping"
    assert result.plan is None and result.exit_code == 1

    # the same run, by hand: the plan is built anyway (without what failed), the
    # report holds exactly what check_mapping returned
    lm = load_mapping(path)
    assert lm.mapping is not None
    report = Report(lm)
    plan = build_plan(lm.mapping, report)
    assert plan is not None
    assert sorted(report.findings, key=Finding.sort_key) == result.findings
    assert [(r.method, r.path) for r in plan.routes] == [("GET", "/people/{personId}")]
    assert "score" not in {r.key for r in plan.rules}, "a rule with an error is left out"
    assert lm.findings == []


def test_the_plan_is_frozen_and_varied_by_replace() -> None:
    result = check_mapping(BASE)
    plan = result.plan
    assert plan is not None and result.findings == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.routes = ()  # type: ignore[misc]
    for name in ("rules", "entries", "derived", "routes"):
        assert isinstance(getattr(plan, name), tuple), name
    fewer = dataclasses.replace(plan, routes=plan.routes[:1])
    assert len(fewer.routes) == 1 and len(plan.routes) == 2


def test_a_missing_schema_file_exits_2_without_marking_the_mapping(tmp_path: Path) -> None:
    path = _copy(tmp_path, ("schemas/person.internal.json", "schemas/nowhere.json"))
    result = check_mapping(path)
    assert result.exit_code == 2 and result.unreadable
    assert [f.code for f in result.findings] == [Code.SCHEMA_UNREADABLE]
    assert not result.loaded.unreadable and result.loaded.findings == []
