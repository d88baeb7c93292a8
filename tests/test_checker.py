"""`shimgen check` against bad fixtures: every finding code fires, at the right line.

Each ``tests/fixtures/bad/SGxxx-*.shim.yaml`` is a copy of ``base.shim.yaml``
(which checks clean) with one deliberate defect. The line the finding must
point at carries a ``# expect: SGxxx`` comment; a ``# also: SGyyy ...`` header
lists other codes the defect legitimately causes. Nothing else may be reported.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from shimgen.diagnostics import RETIRED, Code, Finding

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "fixtures" / "bad"
BASE = BAD / "base.shim.yaml"
FIXTURES = sorted(BAD.glob("SG*.shim.yaml"))
EXAMPLES = sorted((ROOT / "mappings").glob("*.shim.yaml"))

EXPECT = re.compile(r"#\s*expect:\s*((?:SG\d{3}\s*)+)")
ALSO = re.compile(r"^#\s*also:\s*((?:SG\d{3}\s*)+)", re.MULTILINE)
FORMAT = re.compile(r"^.+:\d+:\d+: error\[SG\d{3}\]: ")


def markers(path: Path) -> list[tuple[int, Code]]:
    """(line, code) for every `# expect:` comment in the file."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            found.extend((number, Code(code)) for code in match.group(1).split())
    return found


def also(path: Path) -> set[Code]:
    return {
        Code(c) for m in ALSO.finditer(path.read_text(encoding="utf-8")) for c in m.group(1).split()
    }


def fixture_code(path: Path) -> Code:
    return Code(path.name.split("-", 1)[0])


def describe(findings: list[Finding]) -> str:
    return "\n".join(f.format() for f in findings) or "(no findings)"


# -- the base mapping and the fixture set ------------------------------------------


def test_base_mapping_checks_clean() -> None:
    result = check_mapping(BASE)
    assert result.findings == [], describe(result.findings)
    assert result.exit_code == 0
    assert result.plan is not None
    assert {r.key for r in result.plan.rules} >= {"id", "email", "cards[].number", "tags"}


def test_every_code_has_a_fixture() -> None:
    covered = {fixture_code(p) for p in FIXTURES}
    # a mapping that cannot be read has no fixture file: test_cli_check_unreadable_exits_2
    live = set(Code) - RETIRED - {Code.MAPPING_UNREADABLE}
    assert covered == live, f"no fixture for {sorted(live - covered)}, or one for a retired code"


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_is_well_formed(path: Path) -> None:
    """Each fixture names its code, and marks at least one line with it."""
    code = fixture_code(path)
    marks = markers(path)
    assert marks, f"{path.name} has no `# expect:` marker"
    assert {c for _, c in marks} == {code}


# -- each code fires at its line -----------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name.removesuffix(".shim.yaml"))
def test_finding_fires_at_marked_line(path: Path) -> None:
    code = fixture_code(path)
    result = check_mapping(path)
    findings = result.findings
    report = describe(findings)

    # (1) the code is reported, (2) at every marked line
    assert any(f.code is code for f in findings), f"no {code} in:\n{report}"
    for line, expected in markers(path):
        assert any(f.code is expected and f.line == line for f in findings), (
            f"{expected} expected at line {line}, got:\n{report}"
        )
    # one defect: nothing but the expected code (and the listed follow-ups)
    extra = {f.code for f in findings} - {code} - also(path)
    assert not extra, f"unexpected {sorted(extra)}:\n{report}"

    # (3) exit code 1: findings (every fixture is a readable file; exit 2 for unreadable
    # input is tested below, at SCHEMA_UNREADABLE)
    assert result.exit_code == 1
    assert result.plan is None

    # (4) compiler-style text with a fix hint
    for f in findings:
        text = f.format()
        assert FORMAT.match(text), text
        first, *rest = text.splitlines()
        assert first.startswith(f"{path}:{f.line}:{f.col}: error[{f.code}]: ")
        assert any(r.startswith("  hint: ") and len(r) > len("  hint: ") for r in rest), text
        assert f.line >= 1 and f.col >= 1


# -- collect-all ---------------------------------------------------------------------


def test_many_defects_are_all_reported_in_one_run() -> None:
    path = BAD / "many-defects.shim.yaml"
    result = check_mapping(path)
    expected = markers(path)
    assert len({c for _, c in expected}) >= 8
    got = {(f.line, f.code) for f in result.findings}
    missing = [m for m in expected if m not in got]
    assert not missing, f"not reported: {missing}\n{describe(result.findings)}"
    assert {f.code for f in result.findings} == {c for _, c in expected}
    assert result.exit_code == 1
    assert result.plan is None


def test_shape_errors_are_all_reported_in_one_run(tmp_path: Path) -> None:
    text = BASE.read_text(encoding="utf-8")
    text = text.replace("shim: person\n", "shim: 9lives\n")
    text = text.replace("version: 1\n", "version: -3\n")
    text = text.replace("owner: test-team\n", "owner: test-team\ncolour: blue\n")
    text = text.replace("  ssn: drop\n", "  ssn: {treat: drop, inbund: true}\n")
    text = text.replace("  region: {const: eu}\n", "  region: {const: eu, frm: [id]}\n")
    shutil.copytree(BAD / "schemas", tmp_path / "schemas")  # the rest of the file checks clean
    path = tmp_path / "shape.shim.yaml"
    path.write_text(text, encoding="utf-8")
    result = check_mapping(path)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, start=1) if fragment in line)

    got = {(f.code, f.line) for f in result.findings}
    assert got == {
        (Code.BAD_NAME, line_of("shim: 9lives")),
        (Code.BAD_VERSION, line_of("version: -3")),
        (Code.BAD_STRUCTURE, line_of("colour: blue")),
        (Code.BAD_STRUCTURE, line_of("inbund")),
        (Code.BAD_STRUCTURE, line_of("frm:")),
    }, describe(result.findings)
    assert result.exit_code == 1


def test_duplicate_key_does_not_hide_later_findings(tmp_path: Path) -> None:
    text = BASE.read_text(encoding="utf-8").replace(
        "  tree: drop\n", "  tree: drop\n  tree: drop\n  nickname: drop\n"
    )
    path = tmp_path / "dup.shim.yaml"
    path.write_text(text.replace("schemas/", f"{BAD / 'schemas'}/"), encoding="utf-8")
    codes = [f.code for f in check_mapping(path).findings]
    assert codes == [Code.DUPLICATE_KEY, Code.UNKNOWN_INTERNAL]


def test_a_kind_mismatch_names_every_way_out() -> None:
    """`month` gives a string, birthYear is an integer: the treatment alone may have no fix."""
    [f] = check_mapping(BAD / "SG106-type-mismatch.shim.yaml").findings
    assert f.code is Code.TYPE_MISMATCH
    assert f.hint == (
        "`month` gives string: pick a treatment that gives integer (the `output` column of"
        " docs/treatments.md), send the field with `to:` to an external field of type string,"
        " compute `birthYear` under `derived:`, or change the external type"
    )


def test_both_schemas_missing_are_both_reported(tmp_path: Path) -> None:
    text = BASE.read_text(encoding="utf-8").replace("schemas/person.", "schemas/gone.")
    path = tmp_path / "gone.shim.yaml"
    path.write_text(text, encoding="utf-8")
    result = check_mapping(path)
    assert [(f.code, f.line) for f in result.findings] == [
        (Code.SCHEMA_UNREADABLE, 9),
        (Code.SCHEMA_UNREADABLE, 10),
    ], describe(result.findings)
    assert result.exit_code == 2


def test_findings_are_sorted_by_position() -> None:
    findings = check_mapping(BAD / "many-defects.shim.yaml").findings
    assert findings == sorted(findings, key=Finding.sort_key)


# -- the command line ----------------------------------------------------------------

runner = CliRunner()


def test_cli_check_clean_exits_0() -> None:
    result = runner.invoke(app, ["check", str(BASE)])
    assert result.exit_code == 0, result.output
    assert f"{BASE}: ok" in result.stderr
    assert "error[" not in result.output


def test_cli_check_findings_exit_1() -> None:
    path = BAD / "SG101-uncovered.shim.yaml"
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert re.search(
        rf"^{re.escape(str(path))}:\d+:\d+: error\[SG101\]: ", result.stderr, re.MULTILINE
    )
    assert "  hint: add `tags: drop`" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "name",
    ["unreadable/schema-missing.shim.yaml", "bad/no-such-file.shim.yaml"],
)
def test_cli_check_unreadable_exits_2(name: str) -> None:
    """Exit 2 is for files that cannot be read at all; a syntax error is a finding (exit 1)."""
    result = runner.invoke(app, ["check", str(BAD.parent / name)])
    assert result.exit_code == 2, result.output
    code = "SG007" if "no-such-file" in name else "SG006"
    assert re.search(rf"error\[{code}\]: ", result.stderr)


def test_cli_check_reports_worst_exit_code_of_several() -> None:
    paths = [
        BASE,
        BAD / "SG101-uncovered.shim.yaml",
        BAD.parent / "unreadable" / "schema-missing.shim.yaml",
    ]
    result = runner.invoke(app, ["check", *map(str, paths)])
    assert result.exit_code == 2
    assert "error[SG101]" in result.stderr and "error[SG006]" in result.stderr
    assert f"{BASE}: ok" in result.stderr


def test_cli_check_all_examples_exit_0() -> None:
    assert EXAMPLES, "no mappings/*.shim.yaml"
    result = runner.invoke(app, ["check", *map(str, EXAMPLES)])
    assert result.exit_code == 0, result.output
    for path in EXAMPLES:
        assert f"{path}: ok" in result.stderr


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_mapping_checks_clean(path: Path) -> None:
    result = check_mapping(path)
    assert result.findings == [], describe(result.findings)
    assert result.exit_code == 0


def test_cli_every_broken_fixture_exits_1_with_its_code() -> None:
    """The acceptance line, through the real command: each fixture exits 1 and names its code."""
    assert FIXTURES
    for path in FIXTURES:
        result = runner.invoke(app, ["check", str(path)])
        code = fixture_code(path)
        assert result.exit_code == 1, (path.name, result.output)
        assert re.search(
            rf"^{re.escape(str(path))}:\d+:\d+: error\[{code}\]: ", result.stderr, re.M
        ), path.name


def test_a_group_override_that_drops_a_required_field_is_named(tmp_path: Path) -> None:
    """SG105 points at the `drop` that leaves a required field unsourced, not at `external:`,
    and offers `"null"` when the external field allows null."""
    shutil.copytree(BAD / "schemas", tmp_path / "schemas")
    external = tmp_path / "schemas" / "person.external.json"
    external.write_text(
        external.read_text(encoding="utf-8").replace(
            '"required": ["personId", "status"]', '"required": ["personId", "status", "score"]'
        ),
        encoding="utf-8",
    )
    text = BASE.read_text(encoding="utf-8").replace(
        "  score: {to: score, treat: {round: 1}}\n",
        "  score:\n    to: score\n    treat: {round: 1}\n    groups: {billing: drop}\n",
    )
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(text, encoding="utf-8")
    [f] = check_mapping(mapping).findings
    assert f.code is Code.REQUIRED_UNSOURCED
    assert f.message == (
        "required external field `score` has no source for group `billing`: "
        "the `groups:` entry of `score` drops it"
    )
    assert text.splitlines()[f.line - 1][f.col - 1 :] == "drop}"
    assert f.hint == (
        'give group `billing` `"null"` (the external field allows null), `redact` or another '
        "treatment, or make `score` optional in the external schema"
    )
