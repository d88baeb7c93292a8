"""`shimgen lint --format json|sarif`, and `--list-rules`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shimgen.cli import app
from shimgen.lint import all_rules

ROOT = Path(__file__).resolve().parent.parent
LOOSE = ROOT / "tests" / "fixtures" / "lint" / "loose.shim.yaml"
BAD = ROOT / "tests" / "fixtures" / "bad" / "SG101-uncovered.shim.yaml"
runner = CliRunner()
LEVELS = {"none", "note", "warning", "error"}


def test_json_output() -> None:
    result = runner.invoke(app, ["lint", str(LOOSE), "--format", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ruleset"] == "autonomous"
    assert {r["id"] for r in doc["rules"]} == set(all_rules())
    (entry,) = doc["files"]
    assert entry["file"] == str(LOOSE) and entry["linted"] is True and entry["exit_code"] == 1
    assert entry["skipped"] == ["version-bump"]
    first = entry["findings"][0]
    assert set(first) == {"rule", "severity", "message", "file", "line", "col", "hint", "pointer"}
    assert first["pointer"] == "#/owner"
    assert entry["exempted"] == [] and doc["overrides"] == []
    assert (first["rule"], first["line"], first["severity"]) == ("owner-present", 7, "warn")


def _sarif(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["lint", *args, "--format", "sarif"])
    return result.exit_code, json.loads(result.stdout)


def check_sarif(doc: dict[str, Any]) -> None:
    """The parts of SARIF 2.1.0 code-scanning tools rely on (the schema is not available offline)."""
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "shimgen"
    ids = [r["id"] for r in driver["rules"]]
    assert len(ids) == len(set(ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in LEVELS
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")
    for res in run["results"]:
        assert res["ruleId"] == ids[res["ruleIndex"]]
        assert res["level"] in LEVELS - {"none"}
        assert res["message"]["text"]
        (loc,) = res["locations"]
        art = loc["physicalLocation"]["artifactLocation"]
        assert not art["uri"].startswith("/") and art["uriBaseId"] == "%SRCROOT%"
        region = loc["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1


def test_sarif_output(monkeypatch: pytest.MonkeyPatch) -> None:
    code, doc = _sarif([str(LOOSE), "--ruleset", "autonomous"], monkeypatch)
    assert code == 1
    check_sarif(doc)
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) == set(all_rules())
    assert rules["mask-max-kept"]["defaultConfiguration"] == {"level": "error", "enabled": True}
    assert rules["owner-present"]["defaultConfiguration"] == {"level": "warning", "enabled": True}
    assert rules["mask-max-kept"]["properties"]["tags"] == ["safety"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    mask = by_rule["mask-max-kept"]
    assert mask["level"] == "error"
    loc = mask["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "tests/fixtures/lint/loose.shim.yaml"
    assert loc["region"] == {"startLine": 33, "startColumn": 12}
    assert by_rule["owner-present"]["level"] == "warning"
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_off_rules_and_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ruleset = tmp_path / "r.yaml"
    ruleset.write_text("extends: autonomous\nrules:\n  owner-present: info\n  mask-max-kept: off\n")
    code, doc = _sarif([str(LOOSE), "--ruleset", str(ruleset)], monkeypatch)
    assert code == 1  # the other safety rules still fire
    check_sarif(doc)
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["mask-max-kept"]["defaultConfiguration"] == {"level": "none", "enabled": False}
    results = {r["ruleId"]: r["level"] for r in run["results"]}
    assert results["owner-present"] == "note"
    assert "mask-max-kept" not in results


def test_sarif_reports_checker_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    code, doc = _sarif([str(BAD), str(LOOSE)], monkeypatch)
    assert code == 1
    check_sarif(doc)
    run = doc["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert "SG101" in {r["ruleId"] for r in run["results"]}


def test_list_rules() -> None:
    result = runner.invoke(app, ["lint", "--list-rules", "--ruleset", "authoritative"])
    assert result.exit_code == 0
    for rule_id in all_rules():
        assert f"{rule_id} " in result.stdout


def test_bad_format_exits_2() -> None:
    result = runner.invoke(app, ["lint", str(LOOSE), "--format", "xml"])
    assert result.exit_code == 2
