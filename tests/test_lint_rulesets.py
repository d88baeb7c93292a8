"""Ruleset files: `extends:`, severity and option overrides, and clear errors with file:line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.cli import app
from shimgen.lint import RulesetError, Severity, all_rules, builtin, lint_mapping, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
LOOSE = ROOT / "tests" / "fixtures" / "lint" / "loose.shim.yaml"
runner = CliRunner()


def write(tmp_path: Path, text: str, name: str = "ruleset.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtins() -> None:
    strict = builtin("authoritative")
    loose = builtin("autonomous")
    assert set(strict.rules) == set(loose.rules) == set(all_rules())
    assert {c.severity for c in strict.rules.values()} == {Severity.ERROR}
    for rule_id, c in loose.rules.items():
        if c.rule.authoritative_only:  # a central team's policy: off unless a ruleset names it
            assert c.severity is Severity.OFF, rule_id
        else:
            assert c.severity is (Severity.ERROR if c.rule.safety else Severity.WARN), rule_id
    assert any(c.rule.authoritative_only for c in loose.rules.values())


def test_extends_and_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "extends: autonomous\n"
        "rules:\n"
        "  owner-present: off\n"  # YAML 1.1 reads a bare `off` as false
        "  group-description: error\n"
        "  shim-description: {severity: info}\n"
        "  external-field-case: {options: {case: pascal}}\n"
        "  derived-documented: hint\n",
    )
    ruleset = load_ruleset(str(path))
    assert ruleset.rules["owner-present"].severity is Severity.OFF
    assert ruleset.rules["group-description"].severity is Severity.ERROR
    assert ruleset.rules["shim-description"].severity is Severity.INFO
    case = ruleset.rules["external-field-case"]
    assert case.severity is Severity.WARN and case.options == {"case": "pascal"}
    result = lint_mapping(LOOSE, ruleset)
    by_rule = {f.rule: f.severity for f in result.findings}
    assert "owner-present" not in by_rule
    assert by_rule["group-description"] is Severity.ERROR
    assert by_rule["shim-description"] is Severity.INFO
    assert by_rule["derived-documented"] is Severity.HINT
    assert by_rule["secret-strict-treatment"] is Severity.ERROR  # inherited


def test_quoted_off_and_no_extends(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'rules:\n  owner-present: "off"\n  mask-max-kept: {options: {max_kept: 2}}\n'
    )
    ruleset = load_ruleset(str(path))
    active = {c.rule.id: c.severity for c in ruleset.active()}
    # without extends only the rules named run; naming one with options turns it on at its default
    assert active == {"mask-max-kept": Severity.ERROR}
    result = lint_mapping(LOOSE, ruleset)
    assert {f.rule for f in result.findings} == {"mask-max-kept"}


def test_true_turns_a_rule_on_at_its_default(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  owner-present: on\n  mask-max-kept: true\n")
    active = {c.rule.id: c.severity for c in load_ruleset(str(path)).active()}
    assert active == {"owner-present": Severity.WARN, "mask-max-kept": Severity.ERROR}


def test_extends_a_file_relative_to_the_ruleset(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    write(tmp_path, "extends: authoritative\nrules:\n  owner-present: warn\n", "base.yaml")
    child = write(tmp_path / "team", "extends: ../base.yaml\nrules:\n  mask-max-kept: off\n")
    ruleset = load_ruleset(str(child))
    assert ruleset.rules["owner-present"].severity is Severity.WARN
    assert ruleset.rules["mask-max-kept"].severity is Severity.OFF
    assert ruleset.rules["secret-strict-treatment"].severity is Severity.ERROR


def test_extends_a_list(tmp_path: Path) -> None:
    write(tmp_path, "rules:\n  owner-present: info\n", "extra.yaml")
    path = write(tmp_path, "extends: [autonomous, extra.yaml]\n")
    ruleset = load_ruleset(str(path))
    assert ruleset.rules["owner-present"].severity is Severity.INFO
    assert ruleset.rules["mask-max-kept"].severity is Severity.ERROR


BAD = [
    (
        "extends: autonomous\nrules:\n  owner-presnt: off\n",
        3,
        "unknown rule `owner-presnt`; did you mean `owner-present`?",
    ),
    ("extends: autonomous\nrules:\n  owner-present: fatal\n", 3, "bad severity 'fatal'"),
    ("rules:\n  owner-present: {severity: warning}\n", 2, "bad severity 'warning'"),
    ("rules:\n  mask-max-kept: {options: {max_chars: 2}}\n", 2, "has no option `max_chars`"),
    ("rules:\n  mask-max-kept: {options: {max_kept: many}}\n", 2, "must be a whole number"),
    ("rules:\n  mask-max-kept:\n    options:\n      max_kept: -1\n", 4, "must be a whole number"),
    (
        "rules:\n  external-field-case: {options: {case: shouting}}\n",
        2,
        "must be one of auto, camel, pascal, snake, kebab",
    ),
    ("rules:\n  owner-present: {options: {pattern: '['}}\n", 2, "not a regular expression"),
    ("rules:\n  owner-present: {level: warn}\n", 2, "unknown key `level`"),
    (
        "rules:\n  secret-strict-treatment:\n    options:\n      allowed: [hash,\n        null]\n",
        5,
        'YAML reads a bare null as no value; write the null treatment quoted: `"null"`',
    ),
    ("extend: autonomous\n", 1, "unknown key `extend`"),
    ("extends: strict\n", 1, "no such built-in ruleset"),
    ("extends: autonomous\nrules: [owner-present]\n", 2, "`rules:` is a mapping"),
    ("rules:\n  owner-present: warn\n  owner-present: off\n", 3, "appears twice"),
    ("rules: {owner-present: [\n", 2, "invalid YAML"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_rulesets_are_positioned_errors(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RulesetError) as info:
        load_ruleset(str(path))
    assert message in info.value.message
    assert info.value.line == line, info.value.format()
    assert info.value.format().startswith(f"{path}:{line}:")
    result = runner.invoke(app, ["lint", str(LOOSE), "--ruleset", str(path)])
    assert result.exit_code == 2
    assert re.search(
        rf"^{re.escape(str(path))}:{line}:\d+: error\[ruleset\]: ", result.stderr, re.M
    )


def test_extends_loop(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(RulesetError, match="loops"):
        load_ruleset(str(tmp_path / "a.yaml"))


def test_missing_ruleset_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lint", str(LOOSE), "--ruleset", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read ruleset" in result.stderr
