"""Ruleset `overrides:`: justified exemptions per file or per location, never silently lost."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shimgen.cli import app
from shimgen.lint import RulesetError, Severity, lint_mapping, load_ruleset
from shimgen.lint.cli import run
from shimgen.lint.overrides import glob_regex, parse_pointer
from tests.test_lint_output import check_sarif

ROOT = Path(__file__).resolve().parent.parent
LINT = ROOT / "tests" / "fixtures" / "lint"
runner = CliRunner()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/lint/loose.shim.yaml (+ schemas); rulesets are written in tmp/."""
    shutil.copytree(LINT, tmp_path / "lint")
    return tmp_path


def ruleset(tree: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tree / name
    path.write_text(text, encoding="utf-8")
    return path


def lint(tree: Path, rules: Path) -> tuple[set[tuple[str, int]], set[tuple[str, int, str]]]:
    result = lint_mapping(tree / "lint" / "loose.shim.yaml", load_ruleset(str(rules)))
    reported = {(f.rule, f.line) for f in result.findings}
    exempted = {(f.rule, f.line, f.exemption.reason) for f in result.exempted if f.exemption}
    assert len(exempted) == len(result.exempted)
    return reported, exempted


def test_whole_file_override_exempts_with_its_reason(tree: Path) -> None:
    path = ruleset(
        tree,
        "extends: autonomous\n"
        "overrides:\n"
        "  - files: [lint/*.shim.yaml]\n"
        "    rules: {mask-max-kept: off, owner-present: off}\n"
        "    reason: the fixture is loose on purpose\n",
    )
    reported, exempted = lint(tree, path)
    assert ("mask-max-kept", 33) not in reported and ("owner-present", 7) not in reported
    assert exempted == {
        ("mask-max-kept", 33, "the fixture is loose on purpose"),
        ("owner-present", 7, "the fixture is loose on purpose"),
    }
    assert ("secret-strict-treatment", 28) in reported  # other rules untouched
    result = lint_mapping(tree / "lint" / "loose.shim.yaml", load_ruleset(str(path)))
    (mask,) = [f for f in result.exempted if f.rule == "mask-max-kept"]
    assert mask.severity is Severity.ERROR  # the severity it would have had
    assert mask.exemption is not None and (mask.exemption.file, mask.exemption.line) == (path, 3)


def test_pointer_limits_the_override_to_that_entry(tree: Path) -> None:
    path = ruleset(
        tree,
        "extends: autonomous\n"
        "overrides:\n"
        "  - files: ['lint/loose.shim.yaml#/fields/email']\n"
        "    rules: {pii-needs-why: off, external-field-case: off}\n"
        "    reason: email is masked and the partner API is snake_case there\n"
        "  - files: ['lint/loose.shim.yaml#/fields/ssn/treat']\n"
        "    rules: {secret-strict-treatment: off, pii-needs-why: off}\n"
        "    reason: partners match accounts by the last digits\n",
    )
    reported, exempted = lint(tree, path)
    assert {(r, line) for r, line, _ in exempted} == {
        ("pii-needs-why", 25),  # at /fields/email
        ("external-field-case", 25),  # at /fields/email/to: inside the entry
        ("secret-strict-treatment", 28),  # at /fields/ssn/treat
    }
    # pii-needs-why on ssn would sit at /fields/ssn, outside /fields/ssn/treat; it has a why anyway
    assert ("mask-max-kept", 33) in reported and ("no-pass-on-pii-subtree", 37) in reported


def test_pointer_to_a_group_and_to_a_missing_location(tree: Path) -> None:
    path = ruleset(
        tree,
        "extends: autonomous\n"
        "overrides:\n"
        "  - files: ['lint/loose.shim.yaml#/groups/admin']\n"
        "    rules: {functional-group-names: off}\n"
        "    reason: the platform team's console, renamed next quarter\n"
        "  - files: ['lint/loose.shim.yaml#/fields/no-such-field', 'lint/other.yaml']\n"
        "    rules: {mask-max-kept: off}\n"
        "    reason: a location that does not exist exempts nothing\n",
    )
    reported, exempted = lint(tree, path)
    assert {(r, line) for r, line, _ in exempted} == {("functional-group-names", 14)}
    assert ("no-view-exposes-all-pii", 14) in reported and ("mask-max-kept", 33) in reported


def test_severity_changes_are_not_exemptions(tree: Path) -> None:
    path = ruleset(
        tree,
        "extends: autonomous\n"
        "overrides:\n"
        "  - files: ['lint/loose.shim.yaml#/fields/phone']\n"
        "    rules: {mask-max-kept: warn}\n"
        "    reason: being phased out\n",
    )
    result = lint_mapping(tree / "lint" / "loose.shim.yaml", load_ruleset(str(path)))
    assert result.exempted == []
    (mask,) = [f for f in result.findings if f.rule == "mask-max-kept"]
    assert mask.severity is Severity.WARN


def test_later_overrides_win_and_can_turn_a_rule_back_on(tree: Path) -> None:
    path = ruleset(
        tree,
        "extends: autonomous\n"
        "overrides:\n"
        "  - files: ['lint/**']\n"
        "    rules: {internal-ids-tokenized: off, inbound-tokenized-or-writable: off}\n"
        "    reason: legacy fixtures\n"
        "  - files: ['lint/loose.shim.yaml#/fields/id/inbound']\n"
        "    rules: {inbound-tokenized-or-writable: on}\n"
        "    reason: but ids coming back in are never acceptable\n",
    )
    reported, exempted = lint(tree, path)
    assert ("inbound-tokenized-or-writable", 24) in reported  # back on, at its inherited error
    assert {(r, line) for r, line, _ in exempted} == {("internal-ids-tokenized", 23)}


def test_an_override_can_turn_a_rule_on_at_one_location_only(tree: Path) -> None:
    path = ruleset(
        tree,
        "rules: {owner-present: warn}\n"
        "overrides:\n"
        "  - files: ['lint/loose.shim.yaml#/fields/email']\n"
        "    rules: {external-field-case: error}\n"
        "    reason: the new partner API starts with email\n",
    )
    reported, exempted = lint(tree, path)
    assert reported == {("owner-present", 7), ("external-field-case", 25)}
    assert exempted == set()  # a rule that was never on is not "exempted" elsewhere


def test_whole_file_override_options(tree: Path) -> None:
    path = ruleset(
        tree,
        "extends: autonomous\n"
        "overrides:\n"
        "  - files: [lint/loose.shim.yaml]\n"
        "    rules: {mask-max-kept: {options: {max_kept: 7}}}\n"
        "    reason: phone numbers of this partner keep the country prefix\n",
    )
    reported, exempted = lint(tree, path)
    assert ("mask-max-kept", 33) not in reported and exempted == set()
    # the ruleset's own options are untouched for other files
    assert load_ruleset(str(path)).rules["mask-max-kept"].options == {"max_kept": 4}


def test_globs_are_relative_to_the_ruleset_that_wrote_them(tree: Path) -> None:
    (tree / "policy").mkdir()
    ruleset(
        tree,
        "extends: autonomous\n"
        "overrides:\n"
        "  - files: ['../lint/loose.shim.yaml#/owner']\n"
        "    rules: {owner-present: off}\n"
        "    reason: set by the parent ruleset\n",
        "policy/base.yaml",
    )
    child = ruleset(
        tree,
        "extends: policy/base.yaml\n"
        "overrides:\n"
        "  - files: ['**/loose.shim.yaml#/description']\n"
        "    rules: {shim-description: off}\n"
        "    reason: set by the child ruleset\n",
    )
    _, exempted = lint(tree, child)
    assert exempted == {
        ("owner-present", 7, "set by the parent ruleset"),
        ("shim-description", 8, "set by the child ruleset"),
    }


@pytest.mark.parametrize(
    ("glob", "path", "hit"),
    [
        ("*.shim.yaml", "hr.shim.yaml", True),
        ("*.shim.yaml", "teams/hr.shim.yaml", False),
        ("**/*.shim.yaml", "hr.shim.yaml", True),
        ("**/*.shim.yaml", "a/b/hr.shim.yaml", True),
        ("teams/**", "teams/a/hr.shim.yaml", True),
        ("./hr.shim.yaml", "hr.shim.yaml", True),
        ("h?.shim.yaml", "hr.shim.yaml", True),
        ("[a-h]r.shim.yaml", "hr.shim.yaml", True),
        ("[!h]r.shim.yaml", "hr.shim.yaml", False),
        ("hr.shim.yaml", "hrXshim.yaml", False),
        ("../other/*.yaml", "../other/x.yaml", True),
    ],
)
def test_glob(glob: str, path: str, hit: bool) -> None:
    assert (re.fullmatch(glob_regex(glob), path) is not None) is hit


def test_pointer_decoding() -> None:
    assert parse_pointer("/fields/cards[].number") == ("fields", "cards[].number")
    assert parse_pointer("/fields/cards%5B%5D.number") == ("fields", "cards[].number")
    assert parse_pointer("/fields/a~1b~0c/0") == ("fields", "a/b~c", "0")


def test_exempting_the_example_locations_by_percent_encoded_pointer(tree: Path) -> None:
    path = ruleset(
        tree,
        "extends: autonomous\n"
        "overrides:\n"
        "  - files: ['lint/loose.shim.yaml#/fields/%70rofile']\n"  # %70 = p
        "    rules: {no-pass-on-pii-subtree: off}\n"
        "    reason: decoded like a URI fragment\n",
    )
    _, exempted = lint(tree, path)
    assert {(r, line) for r, line, _ in exempted} == {("no-pass-on-pii-subtree", 37)}


def override(files: str, rules: str = "owner-present: off", reason: str | None = "r") -> str:
    """A ruleset with one override; ``reason`` is the text after ``reason:`` (None: no reason)."""
    text = f"extends: autonomous\noverrides:\n  - files: [{files}]\n    rules: {{{rules}}}\n"
    return text if reason is None else f"{text}    reason: {reason}\n"


BAD = [
    # (ruleset text, line, message)
    (override("x.yaml", reason=None), 3, "override without `reason:`"),
    (override("x.yaml", reason="'  '"), 5, "`reason:` must say"),
    (override("x.yaml", "owner-presnt: off"), 4, "did you mean `owner-present`"),
    (override("x.yaml", "owner-present: fatal"), 4, "bad severity"),
    (override("'x.yaml#fields/a'"), 3, "starts with `/`"),
    (override("'x.yaml#'"), 3, "`#` without a location"),
    (override("'x.yaml#/fields/a~2'"), 3, "must be written `~0`"),
    (override("'x.yaml#/fields//a'"), 3, "empty step"),
    (override("'#/fields/a'"), 3, "no file glob"),
    (override("'/abs/x.yaml'"), 3, "relative to the ruleset"),
    (override("'a**/x.yaml'"), 3, "whole path step"),
    (override("'[ab.yaml'"), 3, "without a closing"),
    (override("'{a,b}.yaml'"), 3, "not supported"),
    (override("'[z-a].yaml'"), 3, "bad pattern"),
    (override("3"), 3, "a pattern is a string"),
    (
        override("'x.yaml#/fields/a'", "mask-max-kept: {options: {max_kept: 9}}"),
        4,
        "may only set severities",
    ),
    (override("x.yaml", "mask-max-kept: {options: {max_kept: x}}"), 4, "whole number"),
    (override("x.yaml", ""), 4, "non-empty mapping"),
    (
        "extends: autonomous\noverrides:\n  - files: []\n    rules: {owner-present: off}\n    reason: r\n",
        3,
        "non-empty list",
    ),
    (
        "extends: autonomous\noverrides:\n  - files: x.yaml\n    rules: {owner-present: off}\n    reason: r\n",
        3,
        "non-empty list",
    ),
    (
        "extends: autonomous\noverrides:\n  - rules: {owner-present: off}\n    reason: r\n",
        3,
        "without `files:`",
    ),
    (override("x.yaml", reason="r\n    why: w"), 6, "unknown key `why`"),
    ("extends: autonomous\noverrides: {files: [x.yaml]}\n", 2, "`overrides:` is a list"),
    ("extends: autonomous\noverrides:\n  - x.yaml\n", 3, "an override is a mapping"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_overrides_are_positioned_errors(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(str(path))
    assert message in info.value.message, info.value.format()
    assert info.value.line == line, info.value.format()
    result = runner.invoke(app, ["lint", str(LINT / "loose.shim.yaml"), "--ruleset", str(path)])
    assert result.exit_code == 2
    assert re.search(
        rf"^{re.escape(str(path))}:{line}:\d+: error\[ruleset\]: ", result.stderr, re.M
    )


# -- output ------------------------------------------------------------------------

EXEMPT = (
    "extends: autonomous\n"
    "rules: {{owner-present: off, shim-description: off, group-description: off,"
    " external-field-case: off, external-max-depth: off, external-field-description: off,"
    " derived-documented: off, pii-needs-why: off, likely-pii-classified: off}}\n"
    "overrides:\n"
    "  - files: ['{mapping}#/fields/ssn/treat']\n"
    "    rules: {{secret-strict-treatment: off}}\n"
    "    reason: partners match accounts by the last digits\n"
    "  - files: ['{mapping}']\n"
    "    rules: {{functional-group-names: off, no-view-exposes-all-pii: off,"
    " internal-ids-tokenized: off, inbound-tokenized-or-writable: off,"
    " mask-max-kept: off, no-pass-on-pii-subtree: off}}\n"
    "    reason: a loose fixture\n"
)


def exempting(tree: Path) -> tuple[Path, Path]:
    return ruleset(
        tree, EXEMPT.format(mapping="lint/loose.shim.yaml")
    ), tree / "lint" / "loose.shim.yaml"


def test_text_counts_and_shows_exempted(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, mapping = exempting(tree)
    monkeypatch.chdir(tree)
    assert run([mapping.relative_to(tree)], "rules.yaml") == 0
    out, err = capsys.readouterr()
    assert out == "8 findings exempted by overrides in rules.yaml (use --show-exempted)\n"
    assert "lint/loose.shim.yaml: clean, 8 exempted (ruleset rules.yaml)" in err
    assert run([mapping.relative_to(tree)], "rules.yaml", show_exempted=True) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[-1] == "8 findings exempted by overrides in rules.yaml"
    assert (
        "lint/loose.shim.yaml:28:12: exempted error[secret-strict-treatment]: "
        "secret field `ssn` reaches group `admin`, group `corrections` as `last4`"
    ) in lines
    assert "  reason: partners match accounts by the last digits (rules.yaml:4)" in lines


def test_json_lists_exempted_apart(tree: Path) -> None:
    rules, mapping = exempting(tree)
    result = runner.invoke(app, ["lint", str(mapping), "--ruleset", str(rules), "--format", "json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    (entry,) = doc["files"]
    assert entry["findings"] == [] and entry["exit_code"] == 0
    by_rule = {f["rule"]: f for f in entry["exempted"]}
    secret = by_rule["secret-strict-treatment"]
    assert secret["severity"] == "error" and secret["line"] == 28
    assert secret["pointer"] == "#/fields/ssn/treat"
    assert secret["exempted"] == {
        "reason": "partners match accounts by the last digits",
        "ruleset": str(rules),
        "line": 4,
    }
    assert [o["files"] for o in doc["overrides"]] == [
        ["lint/loose.shim.yaml#/fields/ssn/treat"],
        ["lint/loose.shim.yaml"],
    ]
    assert doc["overrides"][0]["rules"] == {
        "secret-strict-treatment": {"severity": "off", "options": {}}
    }


def test_sarif_suppressions(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exempting(tree)
    monkeypatch.chdir(tree)
    result = runner.invoke(
        app, ["lint", "lint/loose.shim.yaml", "--ruleset", "rules.yaml", "--format", "sarif"]
    )
    assert result.exit_code == 0
    doc: dict[str, Any] = json.loads(result.stdout)
    check_sarif(doc)
    results = doc["runs"][0]["results"]
    assert len(results) == 8  # no-view-exposes-all-pii fires for admin and corrections
    secret = next(r for r in results if r["ruleId"] == "secret-strict-treatment")
    assert secret["level"] == "error"
    (suppression,) = secret["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["justification"] == "partners match accounts by the last digits"
    loc = suppression["location"]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "rules.yaml"
    assert loc["region"]["startLine"] == 4


def test_sarif_unsuppressed_results_say_so(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    result = runner.invoke(app, ["lint", "lint/loose.shim.yaml", "--format", "sarif"])
    results = json.loads(result.stdout)["runs"][0]["results"]
    assert results and all(r["suppressions"] == [] for r in results)


def test_cli_show_exempted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    args = ["lint", "--ruleset", "mappings/ruleset.yaml", "mappings/orders.shim.yaml"]
    result = runner.invoke(app, [*args, "--show-exempted"])
    assert result.exit_code == 0
    assert "exempted error[internal-ids-tokenized]" in result.stdout
    assert result.stdout.endswith("2 findings exempted by overrides in mappings/ruleset.yaml\n")


def test_docs_example_parses(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "lint.md").read_text(encoding="utf-8")
    section = docs[docs.index("### Overrides") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n", 10)]
    loaded = load_ruleset(str(ruleset(tmp_path, example)))
    assert [len(o.patterns) for o in loaded.overrides] == [1, 1]
