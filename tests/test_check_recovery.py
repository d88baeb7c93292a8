"""Error recovery: with shape errors, `check` still reports the rest of the file's problems.

Each case edits ``tests/fixtures/bad/base.shim.yaml`` (which checks clean) in a
temporary copy beside its schemas, with a shape error (SG003 to SG005) and a
problem of meaning elsewhere: both must come in one run, at their lines, and
nothing that is only a consequence of the part set aside.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from shimgen.check import CheckResult, check_mapping
from shimgen.cli import app
from shimgen.diagnostics import Code

BAD = Path(__file__).resolve().parent / "fixtures" / "bad"
BASE = (BAD / "base.shim.yaml").read_text(encoding="utf-8")


def check_edited(tmp_path: Path, *edits: tuple[str, str]) -> tuple[CheckResult, list[str]]:
    """``base.shim.yaml`` with each ``(old, new)`` replaced once, checked beside its schemas."""
    text = BASE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    shutil.copytree(BAD / "schemas", tmp_path / "schemas")
    path = tmp_path / "edited.shim.yaml"
    path.write_text(text, encoding="utf-8")
    return check_mapping(path), text.splitlines()


def line_of(lines: list[str], fragment: str) -> int:
    return next(i for i, line in enumerate(lines, start=1) if fragment in line)


def test_a_problem_of_meaning_is_reported_beside_a_shape_error(tmp_path: Path) -> None:
    result, lines = check_edited(
        tmp_path,
        ("  ssn: drop\n", "  ssn: {treat: drop, inbund: true}\n"),  # SG003
        ("name.family: {to: lastName}", "name.family: {to: surname}"),  # SG103
    )
    got = {(f.code, f.line) for f in result.findings}
    assert got == {
        (Code.BAD_STRUCTURE, line_of(lines, "inbund")),
        (Code.UNKNOWN_EXTERNAL, line_of(lines, "to: surname")),
    }
    assert result.plan is None and result.exit_code == 1


def test_a_field_entry_set_aside_is_not_reported_as_uncovered(tmp_path: Path) -> None:
    """`ssn` is set aside; "ssn is not in the mapping" (SG101) would be only a consequence."""
    result, _ = check_edited(tmp_path, ("  ssn: drop\n", "  ssn: {treat: drop, inbund: true}\n"))
    assert [f.code for f in result.findings] == [Code.BAD_STRUCTURE]
    assert "SG101" in result.waiting and "SG105" in result.waiting


def test_a_broken_route_leaves_the_next_routes_findings_at_their_lines(tmp_path: Path) -> None:
    result, lines = check_edited(
        tmp_path,
        ("    query: [expand, fields]\n", "    query: [expand, fields]\n    verb: GET\n"),
        ("    groups: [billing]\n", "    groups: [billing, fraud]\n"),  # SG110 in route 2
    )
    got = {(f.code, f.line) for f in result.findings}
    assert got == {
        (Code.BAD_STRUCTURE, line_of(lines, "verb: GET")),
        (Code.UNDECLARED_GROUP, line_of(lines, "[billing, fraud]")),
    }
    assert result.waiting == ""  # no field entry was set aside: every check ran


def test_a_broken_elevation_keeps_its_group_declared(tmp_path: Path) -> None:
    """A group whose `elevated:` is broken is still a group: naming it is no SG110."""
    result, lines = check_edited(
        tmp_path,
        (
            "  billing: Billing operations - payment data, masked contact details\n",
            "  billing:\n    description: Billing operations\n"
            "    elevated: {max_duration: 1d, approvers: [support]}\n",
        ),
        ("  tree: drop\n", "  tree: {treat: drop, groups: {fraud: pass}}\n"),  # SG110
    )
    got = {(f.code, f.line) for f in result.findings}
    assert got == {
        (Code.BAD_STRUCTURE, line_of(lines, "max_duration: 1d")),
        (Code.UNDECLARED_GROUP, line_of(lines, "fraud: pass")),
    }


def test_a_bad_name_and_version_do_not_stop_the_other_checks(tmp_path: Path) -> None:
    result, lines = check_edited(
        tmp_path,
        ("shim: person\n", "shim: 9lives\n"),
        ("version: 1\n", "version: -3\n"),
        ("  tree: drop\n", "  tree: {treat: drop, groups: {fraud: pass}}\n"),
    )
    got = {(f.code, f.line) for f in result.findings}
    assert got == {
        (Code.BAD_NAME, line_of(lines, "shim: 9lives")),
        (Code.BAD_VERSION, line_of(lines, "version: -3")),
        (Code.UNDECLARED_GROUP, line_of(lines, "fraud: pass")),
    }
    assert not any("recovered" in f.message for f in result.findings)  # no placeholder shows


def test_a_broken_schema_reference_stops_the_checks_of_meaning(tmp_path: Path) -> None:
    """Everything else stands on the schemas: nothing is guessed, and the note says so."""
    result, _ = check_edited(
        tmp_path,
        ("internal: {schema:", "internal: {shema: x, schema:"),
        ("  tree: drop\n", "  tree: {treat: drop, groups: {fraud: pass}}\n"),
    )
    assert [f.code for f in result.findings] == [Code.BAD_STRUCTURE]
    assert result.waiting == "the checks of meaning (SG006 and up)"


def test_the_text_output_ends_with_what_did_not_run(tmp_path: Path) -> None:
    check_edited(tmp_path, ("  ssn: drop\n", "  ssn: {treat: drop, inbund: true}\n"))
    run = CliRunner().invoke(app, ["check", str(tmp_path / "edited.shim.yaml")])
    assert run.exit_code == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.endswith(
        "edited.shim.yaml: note: the checks that need every field entry "
        "(SG101, SG105, SG123, SG124, SG125) run once the errors above are fixed"
    ), run.stderr


def test_a_clean_file_has_no_note(tmp_path: Path) -> None:
    result, _ = check_edited(tmp_path)
    assert result.findings == [] and result.waiting == "" and result.plan is not None


BASE_LINES = BASE.splitlines()
VALUED = [i for i, line in enumerate(BASE_LINES) if line.startswith("  ") and ": " in line]
"""Indices of the base's lines that give a key a value inside a section."""


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sets(st.sampled_from(VALUED), min_size=1, max_size=6))
def test_setting_parts_aside_never_invents_a_finding(
    tmp_path_factory: Any, broken: set[int]
) -> None:
    """Give any keys of the clean base a list of numbers: only those lines are reported.

    No key of the format takes a list of numbers, so each edit is a shape error; whatever
    is set aside for it (field and derived entries, groups, routes, upstream), a finding
    of meaning on the rest would be one the checker made up, since the base is clean.
    """
    lines = list(BASE_LINES)
    for i in broken:
        key, _, _ = lines[i].partition(": ")
        lines[i] = f"{key}: [1, 2]"
    tmp_path = tmp_path_factory.mktemp("broken")
    shutil.copytree(BAD / "schemas", tmp_path / "schemas")
    path = tmp_path / "broken.shim.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = check_mapping(path)
    assert result.exit_code == 1 and result.plan is None
    shape = {Code.BAD_STRUCTURE, Code.BAD_NAME, Code.BAD_VERSION}
    assert {f.code for f in result.findings} <= shape, [f.format() for f in result.findings]
    assert {f.line for f in result.findings} <= {i + 1 for i in broken}


def test_json_and_sarif_say_what_waits(tmp_path: Path) -> None:
    """A CI job reading JSON or SARIF learns that more checks come, as a reader of the text does."""
    check_edited(tmp_path, ("  ssn: drop\n", "  ssn: {treat: drop, inbund: true}\n"))
    path = str(tmp_path / "edited.shim.yaml")
    as_json = json.loads(CliRunner().invoke(app, ["check", path, "--format", "json"]).stdout)
    assert as_json["files"][0]["waiting"].startswith("the checks that need every field entry")
    sarif = json.loads(CliRunner().invoke(app, ["check", path, "--format", "sarif"]).stdout)
    (note,) = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["level"] == "note" and "SG101" in note["message"]["text"]
    linted = CliRunner().invoke(app, ["lint", path, "--format", "json"])
    assert json.loads(linted.stdout)["files"][0]["check_waiting"] == as_json["files"][0]["waiting"]
