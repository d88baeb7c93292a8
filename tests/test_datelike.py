"""Dates written as patterns (FHIR), partial dates, and formats that treatments keep.

The FHIR R4 and GitHub schemas are read in place from ../shared/real-schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.check.types import applicable, treatment_fit
from shimgen.cli import app
from shimgen.schema.datelike import date_shapes, pattern_shapes
from shimgen.schema.loader import load_schema
from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments import parse_treatment
from tests.expected import KEYS, translator
from tests.test_real_schemas import real_dir

__all__ = ["real_dir"]  # the fixture, re-used

FHIR = "fhir-r4-patient.schema.json"
GITHUB = "github-private-user-vs-public-user.openapi.json"


def fhir_patterns(real: Path) -> dict[str, str]:
    definitions = json.loads((real / FHIR).read_text(encoding="utf-8"))["definitions"]
    return {name: d["pattern"] for name, d in definitions.items() if "pattern" in d}


def _all_patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _all_patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_patterns(value)


def test_fhir_date_patterns_are_recognised_with_their_shapes(real_dir: Path) -> None:
    patterns = fhir_patterns(real_dir)
    assert pattern_shapes(patterns["date"]) == {"year", "year-month", "date"}
    assert pattern_shapes(patterns["dateTime"]) == {"year", "year-month", "date", "date-time"}
    assert pattern_shapes(patterns["instant"]) == {"date-time"}
    others = set(patterns) - {"date", "dateTime", "instant"}
    assert {"time", "string", "uri", "decimal", "integer", "id"} <= others
    for other in sorted(others):
        assert pattern_shapes(patterns[other]) == frozenset(), other


def test_only_fhir_dates_are_date_like_among_every_real_pattern(real_dir: Path) -> None:
    dates = {
        p for name, p in fhir_patterns(real_dir).items() if name in ("date", "dateTime", "instant")
    }
    seen = set()
    for path in sorted(real_dir.glob("*.json")):
        seen |= set(_all_patterns(json.loads(path.read_text(encoding="utf-8"))))
    assert len(seen) > 20
    assert {p for p in seen if pattern_shapes(p)} == dates


@pytest.mark.parametrize(
    ("pattern", "shapes"),
    [
        (r"^\d{4}-\d{2}-\d{2}$", {"date"}),
        (r"\d{4}-\d{2}-\d{2}", set()),  # unanchored: "text 2024-03-17" matches too
        (r"^\d{4}(-\d{2}){0,2}$", {"year", "year-month", "date"}),
        (r"^\d{4}$", set()),  # a year alone is not a date
        (r"^.*$", set()),
        (r"(", set()),  # not a regex Python reads
        (r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$", {"date-time"}),
    ],
)
def test_a_pattern_is_date_like_by_what_it_accepts(pattern: str, shapes: set[str]) -> None:
    assert pattern_shapes(pattern) == shapes


def test_a_format_wins_over_a_pattern() -> None:
    date_pattern = r"^\d{4}-\d{2}-\d{2}$"
    assert date_shapes(SchemaNode(Kind.STRING, format="email", pattern=date_pattern)) == set()
    assert date_shapes(SchemaNode(Kind.STRING, format="date")) == {"date"}
    assert date_shapes(SchemaNode(Kind.INTEGER, pattern=date_pattern)) == set()


def test_real_fhir_patient_dates_take_date_treatments(real_dir: Path) -> None:
    """The loader keeps a $ref'd pattern: Patient.birthDate is FHIR `date`, and so on."""
    patient = load_schema(real_dir / FHIR, "Patient").root.properties
    birth, deceased = patient["birthDate"], patient["deceasedDateTime"]
    assert birth.format is None and date_shapes(birth) == {"year", "year-month", "date"}
    assert "date-time" in date_shapes(deceased)
    for spec in ("year", "month", {"truncate": "year"}):
        assert applicable(parse_treatment(spec), birth) is None, spec
    assert applicable(parse_treatment({"truncate": "minute"}), deceased) is None
    assert applicable(parse_treatment({"truncate": "day"}), birth)  # a date has no time
    truncated = parse_treatment({"truncate": "month"})
    assert treatment_fit(truncated, birth, birth) is None
    assert treatment_fit(truncated, deceased, birth), "a date-time does not fit a FHIR date"


# -- check and translate over FHIR date types ------------------------------------------


def _fhir_pair(real: Path, tmp: Path) -> Path:
    """A small record typed with FHIR's own date patterns, mapped with date treatments."""
    p = fhir_patterns(real)
    internal = {
        "type": "object",
        "properties": {
            "birthDate": {"type": "string", "pattern": p["date"]},
            "deathDate": {"type": "string", "pattern": p["date"]},
            "recorded": {"type": "string", "pattern": p["dateTime"]},
            "issued": {"type": "string", "pattern": p["instant"]},
        },
    }
    external = {
        "type": "object",
        "properties": {
            "birthYear": {"type": "integer"},
            "deathMonth": {"type": "string"},
            "recorded": {"type": "string", "pattern": p["dateTime"]},
            "issued": {"type": "string", "format": "date-time"},
        },
    }
    (tmp / "in.json").write_text(json.dumps(internal), encoding="utf-8")
    (tmp / "out.json").write_text(json.dumps(external), encoding="utf-8")
    mapping = {
        "shim": "fhir-dates",
        "version": 1,
        "owner": "tests",
        "internal": {"schema": "in.json"},
        "external": {"schema": "out.json"},
        "fields": {
            "birthDate": {"to": "birthYear", "treat": "year"},
            "deathDate": {"to": "deathMonth", "treat": "month"},
            "recorded": {"treat": {"truncate": "day"}},
            "issued": {"treat": {"truncate": "hour"}},
        },
    }
    path = tmp / "fhir.shim.yaml"
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return path


@pytest.fixture
def fhir_shim(real_dir: Path, tmp_path: Path) -> Iterator[ModuleType]:
    result = check_mapping(_fhir_pair(real_dir, tmp_path))
    assert result.plan is not None, [f.format() for f in result.findings]
    with translator(result.plan) as mod:
        yield mod


def test_fhir_dates_and_partial_dates_translate(fhir_shim: ModuleType) -> None:
    record = {
        "birthDate": "1974",
        "deathDate": "2020-06",
        "recorded": "2024-03-17T10:22:05+02:00",
        "issued": "2024-03-17T10:22:05.5-05:00",
    }
    assert fhir_shim.to_external(record) == {
        "birthYear": 1974,
        "deathMonth": "2020-06",
        "recorded": "2024-03-17T00:00:00+02:00",
        "issued": "2024-03-17T10:00:00-05:00",
    }
    out = fhir_shim.to_external({"birthDate": "1974-12-25", "recorded": "1974-12"})
    assert out == {"birthYear": 1974, "recorded": "1974-12"}


@pytest.mark.parametrize(
    ("record", "pointer"),
    [
        ({"birthDate": "1974-13"}, "/birthDate"),
        ({"deathDate": "Dec 1974"}, "/deathDate"),
        ({"recorded": "2024-03-17T10:22"}, "/recorded"),
        ({"issued": "2024-03-17"}, "/issued"),  # an instant is never partial
    ],
)
def test_a_date_that_does_not_parse_is_refused_at_its_pointer(
    fhir_shim: ModuleType, record: dict[str, str], pointer: str
) -> None:
    with pytest.raises(ValueError) as err:
        fhir_shim.to_external(record)
    assert [p.pointer for p in err.value.problems] == [pointer]  # type: ignore[attr-defined]
    assert next(iter(record.values())) not in str(err.value)


def test_offline_translate_reports_the_line_and_pointer_and_goes_on(
    real_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    mapping = _fhir_pair(real_dir, tmp_path)
    lines = [{"birthDate": "1974-12"}, {"birthDate": "25.12.1974"}, {"recorded": "2024-03-17"}]
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    result = CliRunner().invoke(app, ["translate", str(mapping)], input=stdin)
    assert result.exit_code == 1
    assert [json.loads(x) for x in result.stdout.splitlines()] == [
        {"birthYear": 1974},
        {"recorded": "2024-03-17"},
    ]
    assert "line 2: /birthDate:" in result.stderr
    assert "25.12.1974" not in result.stderr


def test_truncate_finer_than_a_date_or_into_a_narrower_pattern_is_refused(real_dir: Path) -> None:
    p = fhir_patterns(real_dir)
    date = SchemaNode(Kind.STRING, pattern=p["date"])
    date_time = SchemaNode(Kind.STRING, pattern=p["dateTime"])
    assert "has no time" in (applicable(parse_treatment({"truncate": "day"}), date) or "")
    assert applicable(parse_treatment({"truncate": "month"}), date) is None
    reason = treatment_fit(parse_treatment({"truncate": "month"}), date_time, date)
    assert reason and "date-time" in reason
    plain = SchemaNode(Kind.STRING)
    reason = applicable(parse_treatment("year"), plain)
    assert reason and "date-like pattern" in reason


# -- formats that treatments keep (GitHub private-user -> public-user) -----------------


def test_github_mask_email_keeps_format_and_truncate_keeps_date_time(real_dir: Path) -> None:
    private = load_schema(real_dir / GITHUB, "private-user").root.properties
    public = load_schema(real_dir / GITHUB, "public-user").root.properties
    assert public["email"].format == "email" and public["updated_at"].format == "date-time"
    fit = treatment_fit(parse_treatment("mask_email"), private["email"], public["email"])
    assert fit is None
    truncated = parse_treatment({"truncate": "month"})
    assert treatment_fit(truncated, private["updated_at"], public["updated_at"]) is None
    refused = treatment_fit(parse_treatment("month"), private["updated_at"], public["updated_at"])
    assert refused and "needs format date-time" in refused
    # an internal string that is not declared an e-mail address gives no such promise
    assert treatment_fit(parse_treatment("mask_email"), SchemaNode(Kind.STRING), public["email"])
