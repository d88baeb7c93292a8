"""Attack class: text from the inputs forges or hides shimgen's own output.

Findings and errors quote what the user gave shimgen: a ``$ref``, a key, a model
name, a file name. A partner's schema can hold any character there. A line break
in a quoted ``$ref`` printed a second line that read like a finding of its own (or
like a clean end of output in a CI log), and a terminal escape (``ESC [2J``) would
clear the reviewer's screen. Every finding, lint finding and one-line error goes
through ``shimgen.diagnostics.one_line``: one line, printable characters, the rest
escaped as ``\\n``, ``\\x1b``. See docs/threat-model.md, "Text in the inputs forges
shimgen's output".
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shimgen.cli import app
from shimgen.diagnostics import Code, Finding, one_line
from shimgen.internal_error import internal_error_line, unwritable_line
from shimgen.lint.model import LintFinding, Severity

FORGED = "X\nmapping.shim.yaml:1:1: error[SG000]: forged\x1b[2J\u202e"


def _schema_with_bad_ref(tmp_path: Path) -> Path:
    ref = "#/$defs/" + FORGED
    schema = {"$defs": {"R": {"type": "object", "properties": {"id": {"$ref": ref}}}}}
    (tmp_path / "s.json").write_text(json.dumps(schema))
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(
        "shim: x\nversion: 1\nowner: o\n"
        "internal: {schema: s.json, model: R}\nexternal: {schema: s.json, model: R}\n"
        "fields: {id: {treat: tokenize, why: key}}\n"
    )
    return mapping


def _assert_clean(lines: list[str]) -> None:
    for line in lines:  # no escape, no bidi override: shown as \x1b, \u202e
        assert "\x1b" not in line and "\u202e" not in line


def test_a_line_break_in_a_quoted_ref_does_not_forge_a_finding(tmp_path: Path) -> None:
    mapping = _schema_with_bad_ref(tmp_path)
    result = CliRunner().invoke(app, ["check", str(mapping)], color=True)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines and all(line.startswith((str(mapping), "  hint: ")) for line in lines), (
        result.output
    )
    assert not any(line.startswith("mapping.shim.yaml:1:1") for line in lines)
    _assert_clean(lines)
    assert "\\x1b[2J" in result.output  # shown, escaped, not dropped


def test_findings_lint_findings_and_error_lines_are_one_line() -> None:
    finding = Finding(Code.SCHEMA_UNREADABLE, FORGED, Path("m\n.yaml"), 1, 1, hint=FORGED)
    lint = LintFinding("r", Severity.ERROR, FORGED, Path("m.yaml"), 1, 1, hint=FORGED)
    for text in (finding.format(), lint.format()):
        assert len(text.splitlines()) == 2  # the finding and its hint
        _assert_clean(text.splitlines())
    for line in (
        internal_error_line(RuntimeError(FORGED)),
        unwritable_line(PermissionError(13, "Permission denied", FORGED)),
    ):
        assert len(line.splitlines()) == 1
        _assert_clean([line])


def test_printable_text_is_left_as_it_is() -> None:
    text = "Zoë's café: 50 € — $ref '#/$defs/Naïve' (tab-free)"
    assert one_line(text) == text
