"""`shimgen lint`: every rule fires on the loose fixture, at the line its marker names.

``tests/fixtures/lint/loose.shim.yaml`` checks clean but breaks every lint
rule; each line a finding must point at carries ``# expect: RULE-ID ...``.
The version-bump rule needs ``--base``, so the fixture is committed to a
temporary git repository and changed without a version bump.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from shimgen.lint import BaseError, Severity, all_rules, builtin, lint_mapping, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
LINT = ROOT / "tests" / "fixtures" / "lint"
LOOSE = LINT / "loose.shim.yaml"
EXPECT = re.compile(r"#\s*expect:\s*([a-z0-9 -]+?)\s*$")
runner = CliRunner()


def markers(path: Path) -> set[tuple[str, int]]:
    found = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            found.update((rule, number) for rule in match.group(1).split())
    return found


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding a copy of the lint fixtures, committed once."""
    shutil.copytree(LINT, tmp_path / "lint")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


def test_loose_fixture_checks_clean() -> None:
    result = check_mapping(LOOSE)
    assert result.findings == []
    assert result.plan is not None


def test_every_rule_has_a_marker() -> None:
    assert {rule for rule, _ in markers(LOOSE)} == set(all_rules())
    assert len(all_rules()) >= 12


def test_authoritative_reports_each_rule_at_its_line(repo: Path) -> None:
    mapping = repo / "lint" / "loose.shim.yaml"
    with mapping.open("a", encoding="utf-8") as f:
        f.write("# changed after the base commit, version not bumped\n")
    result = lint_mapping(mapping, builtin("authoritative"), base="HEAD")
    got = {(f.rule, f.line) for f in result.findings}
    assert got == markers(LOOSE), "\n".join(f.format() for f in result.findings)
    assert all(f.severity is Severity.ERROR for f in result.findings)
    assert result.skipped == []
    assert result.exit_code == 1


def test_cli_authoritative_prints_compiler_style(repo: Path) -> None:
    mapping = repo / "lint" / "loose.shim.yaml"
    result = runner.invoke(app, ["lint", str(mapping), "--ruleset", "authoritative"])
    assert result.exit_code == 1
    for rule, line in markers(LOOSE) - {("version-bump", 6)}:
        pattern = rf"^{re.escape(str(mapping))}:{line}:\d+: error\[{rule}\]: "
        assert re.search(pattern, result.stdout, re.MULTILINE), (rule, line, result.stdout)
    assert "  hint: " in result.stdout
    assert "not run" not in result.stderr, "the skipped-rule note is shown only when asked"
    verbose = runner.invoke(app, ["lint", str(mapping), "--ruleset", "authoritative", "-v"])
    assert "not run without --base: version-bump" in verbose.stderr


def test_autonomous_keeps_safety_rules_as_errors() -> None:
    result = lint_mapping(LOOSE, builtin("autonomous"))
    rules = all_rules()
    assert result.findings
    for f in result.findings:
        expected = Severity.ERROR if rules[f.rule].safety else Severity.WARN
        assert f.severity is expected, f.format()
    assert result.skipped == ["version-bump"]
    assert result.exit_code == 1
    assert {r for r, rule in rules.items() if rule.safety} == {
        "secret-strict-treatment",
        "no-view-exposes-all-pii",
        "inbound-tokenized-or-writable",
        "no-pass-on-pii-subtree",
        "mask-max-kept",
        "internal-ids-tokenized",
        "functional-group-names",
    }


def test_warnings_only_exit_zero(tmp_path: Path) -> None:
    ruleset = tmp_path / "style-only.yaml"
    ruleset.write_text(
        "extends: autonomous\nrules:\n"
        + "".join(f"  {r}: off\n" for r, rule in all_rules().items() if rule.safety),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["lint", str(LOOSE), "--ruleset", str(ruleset)])
    assert result.exit_code == 0, result.output
    assert "warn[owner-present]" in result.stdout
    assert "error[" not in result.stdout


def test_rule_metadata() -> None:
    for rule_id, rule in all_rules().items():
        assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", rule_id)
        assert rule.description.endswith(")") or rule.description.endswith(".")
        assert rule.hint
        assert rule.severity in (Severity.ERROR, Severity.WARN)


def test_docs_list_every_rule() -> None:
    docs = (ROOT / "docs" / "lint.md").read_text(encoding="utf-8")
    for rule_id, rule in all_rules().items():
        row = next((line for line in docs.splitlines() if line.startswith(f"| `{rule_id}`")), "")
        assert row, f"docs/lint.md has no table row for {rule_id}"
        autonomous = "off" if rule.authoritative_only else "error" if rule.safety else "warn"
        assert f"| error | {autonomous} |" in row, row
        for option in rule.options:
            assert f"`{option}`" in docs, (rule_id, option)


# -- options ----------------------------------------------------------------


def _ruleset(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ruleset.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_options_change_what_rules_accept(tmp_path: Path) -> None:
    from shimgen.lint import load_ruleset

    ruleset = load_ruleset(
        _ruleset(
            tmp_path,
            "extends: authoritative\nrules:\n"
            "  mask-max-kept: {options: {max_kept: 7}}\n"
            "  external-field-case: {options: {case: snake}}\n"
            "  external-max-depth: {options: {max_depth: 4}}\n"
            "  owner-present: {options: {placeholders: [nobody]}}\n"
            "  secret-strict-treatment: {options: {allowed: [drop, last4]}}\n",
        )
    )
    result = lint_mapping(LOOSE, ruleset)
    got = {(f.rule, f.line) for f in result.findings}
    assert ("mask-max-kept", 30) not in got
    assert ("external-max-depth", 36) not in got
    assert ("owner-present", 7) not in got
    assert ("secret-strict-treatment", 25) not in got
    snake = sorted(f.message for f in result.findings if f.rule == "external-field-case")
    assert snake == [
        "external field `accountId` is not snake_case",
        "external field `recoveryEmail` is not snake_case",
        "external field `ssnLast4` is not snake_case",
    ]


@pytest.mark.parametrize(("sources", "flagged"), [("[plan, ssn]", True), ("[plan, email]", False)])
def test_a_template_that_copies_a_secret_is_a_secret_leaving(
    tmp_path: Path, sources: str, flagged: bool
) -> None:
    """A template copies its sources as they are: a secret in it leaves as if passed."""
    shutil.copytree(LINT / "schemas", tmp_path / "schemas")
    schema = tmp_path / "schemas" / "account.external.json"
    schema.write_text(
        schema.read_text().replace(
            '"plan": {"type": "string"},',
            '"plan": {"type": "string"}, "label": {"type": "string", "description": "Label."},',
        )
    )
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(
        LOOSE.read_text().split("derived:")[0]
        + f"derived:\n  label: {{from: {sources}, template: '{{0}}-{{1}}', why: one label}}\n"
    )
    result = lint_mapping(mapping, builtin("autonomous"))
    hits = [f for f in result.findings if f.rule == "secret-strict-treatment"]
    template = [f for f in hits if "template" in f.message]
    assert len(template) == flagged, [f.format() for f in hits]
    if flagged:
        assert (
            template[0].message
            == "derived field `label` copies the secret field `ssn` into its template"
        )
        assert (
            template[0].line
            == mapping.read_text()
            .splitlines()
            .index("  label: {from: [plan, ssn], template: '{0}-{1}', why: one label}")
            + 1
        )


# -- checker first ------------------------------------------------------------


def test_checker_errors_stop_lint() -> None:
    bad = ROOT / "tests" / "fixtures" / "bad" / "SG101-uncovered.shim.yaml"
    result = runner.invoke(app, ["lint", str(bad), "--ruleset", "authoritative"])
    assert result.exit_code == 1
    assert "error[SG101]" in result.stderr
    assert "not linted" in result.stderr
    assert result.stdout == ""


def test_unreadable_mapping_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lint", str(tmp_path / "missing.shim.yaml")])
    assert result.exit_code == 2


# -- --base ---------------------------------------------------------------------


def test_base_unchanged_or_bumped_is_clean(repo: Path) -> None:
    mapping = repo / "lint" / "loose.shim.yaml"
    ruleset = builtin("authoritative")

    def bump_findings() -> list[str]:
        return [
            f.format()
            for f in lint_mapping(mapping, ruleset, "HEAD").findings
            if f.rule == "version-bump"
        ]

    assert bump_findings() == []  # same bytes as the base
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text.replace("version: 1 ", "version: 2 ") + "# changed\n", encoding="utf-8")
    assert bump_findings() == []
    mapping.write_text(text + "# changed, not bumped\n", encoding="utf-8")
    found = bump_findings()
    assert len(found) == 1 and ":6:10: error[version-bump]" in found[0], found
    assert "hint: set `version: 2`" in found[0]


def test_base_new_file_is_clean(repo: Path) -> None:
    new = repo / "lint" / "new.shim.yaml"
    shutil.copy(repo / "lint" / "loose.shim.yaml", new)
    result = lint_mapping(new, builtin("authoritative"), "HEAD")
    assert "version-bump" not in {f.rule for f in result.findings}


def test_base_bad_revision_exits_2(repo: Path) -> None:
    mapping = repo / "lint" / "loose.shim.yaml"
    with pytest.raises(BaseError, match="no such revision"):
        lint_mapping(mapping, builtin("authoritative"), "no-such-branch")
    result = runner.invoke(app, ["lint", str(mapping), "--base", "no-such-branch"])
    assert result.exit_code == 2
    assert "no such revision" in result.stderr


def test_base_outside_git_exits_2(tmp_path: Path) -> None:
    shutil.copytree(LINT, tmp_path / "lint")
    mapping = tmp_path / "lint" / "loose.shim.yaml"
    with pytest.raises(BaseError, match=r"no such file, and .* not inside a git repository"):
        lint_mapping(mapping, builtin("autonomous"), "HEAD")


def test_base_can_be_a_plain_file_outside_git(tmp_path: Path) -> None:
    """The previous mapping kept as a file: no repository needed."""
    shutil.copytree(LINT, tmp_path / "lint")
    mapping = tmp_path / "lint" / "loose.shim.yaml"
    old = tmp_path / "released.shim.yaml"
    shutil.copy(mapping, old)
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text + "# changed, not bumped\n", encoding="utf-8")
    result = runner.invoke(app, ["lint", str(mapping), "--base", str(old)])
    assert result.exit_code == 1
    assert f":6:10: warn[version-bump]: the mapping changed since {old}" in result.stdout
    mapping.write_text(text.replace("version: 1 ", "version: 2 "), encoding="utf-8")
    bumped = lint_mapping(mapping, builtin("autonomous"), str(old))
    assert "version-bump" not in {f.rule for f in bumped.findings}


# -- the example mappings ---------------------------------------------------------

EXAMPLE_FINDINGS = {
    # What plain `autonomous` reports: the policy exceptions the business accepts,
    # exempted (with reasons) by mappings/ruleset.yaml. Lines are in mappings/*.shim.yaml.
    "customer": {
        ("secret-strict-treatment", 39),  # cards[].number (secret) as last4 to billing
    },
    "orders": {
        ("internal-ids-tokenized", 24),  # order_id passes as invoiceNumber
        ("secret-strict-treatment", 62),  # payment.card_number (secret) as last4
    },
    "hr": {
        ("secret-strict-treatment", 72),  # salary.amount rounded to payroll
        ("secret-strict-treatment", 73),  # ... passed to payroll-corrections (elevated)
        ("secret-strict-treatment", 79),  # salary.currency (secret by inheritance) passed
        ("secret-strict-treatment", 80),  # ... to payroll-corrections too
        ("secret-strict-treatment", 86),  # bank_account.iban masked
        ("secret-strict-treatment", 87),  # ... passed to payroll-corrections
        ("secret-strict-treatment", 93),  # bank_account.bic (secret by inheritance) passed
        ("secret-strict-treatment", 94),  # ... to payroll-corrections too
    },
}
AUTHORITATIVE_ONLY = {
    # What `authoritative` adds: secret fields revealed to a standing (not elevated) group.
    # hr's payroll-corrections is elevated, so only the payroll lines are reported.
    "customer": {("secret-views-elevated", 39)},
    "orders": {("secret-views-elevated", 62)},
    "hr": {("secret-views-elevated", line) for line in (72, 79, 86, 93)},
}
EXAMPLES_RULESET = ROOT / "mappings" / "ruleset.yaml"


@pytest.mark.parametrize("name", sorted(EXAMPLE_FINDINGS))
def test_examples_under_autonomous(name: str) -> None:
    result = lint_mapping(ROOT / "mappings" / f"{name}.shim.yaml", builtin("autonomous"))
    assert result.linted
    got = {(f.rule, f.line) for f in result.findings}
    assert got == EXAMPLE_FINDINGS[name], "\n".join(f.format() for f in result.findings)
    assert result.exempted == []
    authoritative = lint_mapping(ROOT / "mappings" / f"{name}.shim.yaml", builtin("authoritative"))
    assert {(f.rule, f.line) for f in authoritative.findings} == got | AUTHORITATIVE_ONLY[name]


@pytest.mark.parametrize("name", sorted(EXAMPLE_FINDINGS))
def test_examples_clean_under_their_ruleset(name: str) -> None:
    """mappings/ruleset.yaml exempts exactly the accepted exceptions, each with a reason."""
    result = lint_mapping(
        ROOT / "mappings" / f"{name}.shim.yaml", load_ruleset(str(EXAMPLES_RULESET))
    )
    assert result.findings == [], "\n".join(f.format() for f in result.findings)
    assert {(f.rule, f.line) for f in result.exempted} == EXAMPLE_FINDINGS[name]
    for f in result.exempted:
        assert f.severity is Severity.ERROR
        assert f.exemption is not None and f.exemption.file == EXAMPLES_RULESET
        assert len(f.exemption.reason.split()) >= 10, f.exemption.reason


def test_examples_ruleset_exempts_only_locations() -> None:
    """No override of the examples' ruleset exempts a whole rule or a whole file."""
    ruleset = load_ruleset(str(EXAMPLES_RULESET))
    assert len(ruleset.overrides) == sum(map(len, EXAMPLE_FINDINGS.values()))
    for o in ruleset.overrides:
        assert all(p.pointer is not None and len(p.pointer) >= 2 for p in o.patterns), o
        assert {s.severity for s in o.settings.values()} == {Severity.OFF}


def test_examples_cli_under_their_ruleset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    mappings = [f"mappings/{name}.shim.yaml" for name in sorted(EXAMPLE_FINDINGS)]
    result = runner.invoke(app, ["lint", "--ruleset", "mappings/ruleset.yaml", *mappings])
    assert result.exit_code == 0, result.stdout + result.stderr
    n = sum(map(len, EXAMPLE_FINDINGS.values()))
    assert result.stdout == (
        f"{n} findings exempted by overrides in mappings/ruleset.yaml (use --show-exempted)\n"
    )


def test_generate_counts_lint_errors_without_failing(tmp_path: Path) -> None:
    """`check` accepts what lint calls an error; generate says so in one line, exit 0."""
    result = runner.invoke(app, ["generate", str(LOOSE), "-o", str(tmp_path / "shim")])
    assert result.exit_code == 0, result.stderr
    expected = lint_mapping(LOOSE, builtin("autonomous"))
    errors = sum(f.severity is Severity.ERROR for f in expected.findings)
    warnings = sum(f.severity is Severity.WARN for f in expected.findings)
    assert errors and warnings
    assert result.stderr.splitlines()[-1] == (
        f"lint: {errors} errors, {warnings} warnings under the default ruleset (autonomous); "
        f"details: shimgen lint {LOOSE}"
    )


# -- likely-pii-classified ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("homeAddress", ["home", "address", "homeaddress"]),
        ("home_address", ["home", "address", "homeaddress"]),
        ("E_Mail", ["e", "mail", "email"]),
        ("birthDate", ["birth", "date", "birthdate"]),
        ("cardPAN", ["card", "pan", "cardpan"]),
        ("SSN", ["ssn"]),
        ("company", ["company"]),
    ],
)
def test_name_parts(name: str, parts: list[str]) -> None:
    from shimgen.lint.rules_style import name_parts

    assert name_parts(name) == parts


LIKELY_INTERNAL = {
    "type": "object",
    "properties": {
        "contactMail": {"type": "string", "format": "email"},
        "home_address": {"type": "string"},
        "birthDate": {"type": "string", "format": "date"},
        "apiToken": {"type": "string"},
        "company": {"type": "string"},
        "ssn": {"type": "string", "x-classification": "secret"},
        "backup_phone": {"type": "string"},
        "billing_iban": {"type": "string"},
        "profile": {
            "type": "object",
            "properties": {"nick": {"type": "string"}, "recoveryEmail": {"type": "string"}},
        },
    },
}
LIKELY_MAPPING = """\
shim: likely
version: 1
owner: team-a
internal: {schema: in.json}
external: {schema: in.json}
groups: {support: Customer support answering tickets}
classification: {billing_iban: internal}
fields:
  contactMail: {treat: pass}
  home_address: {}
  birthDate: {treat: {truncate: month}, groups: {support: pass}}
  apiToken: drop
  company: pass
  ssn: drop
  backup_phone: {treat: {mask: {keep_last: 2}}}
  billing_iban: pass
  profile: pass
"""


def test_likely_pii_classified(tmp_path: Path) -> None:
    """Unclassified, personal-looking, and `pass` in some view: one warning at the `pass`."""
    import json

    (tmp_path / "in.json").write_text(json.dumps(LIKELY_INTERNAL), encoding="utf-8")
    mapping = tmp_path / "likely.shim.yaml"
    mapping.write_text(LIKELY_MAPPING, encoding="utf-8")
    result = lint_mapping(mapping, builtin("autonomous"))
    assert result.linted, result.check.findings
    got = sorted(
        (f.line, f.col, f.severity, f.message)
        for f in result.findings
        if f.rule == "likely-pii-classified"
    )
    text = mapping.read_text(encoding="utf-8").splitlines()
    line = {t.split(":")[0].strip(): i for i, t in enumerate(text, start=1)}
    assert got == [
        (
            line["contactMail"],
            24,
            Severity.WARN,
            "`contactMail` looks like personal data (`format: email`) but has no "
            "classification, and leaves as `pass` to every view",
        ),
        (
            line["home_address"],
            3,
            Severity.WARN,
            "`home_address` looks like personal data (the word `address` in its name) but has "
            "no classification, and leaves as `pass` to every view",
        ),
        (
            line["birthDate"],
            59,
            Severity.WARN,
            "`birthDate` looks like personal data (the word `birth` in its name) but has no "
            "classification, and leaves as `pass` to group `support`",
        ),
        (
            line["profile"],
            12,
            Severity.WARN,
            "`profile.recoveryEmail` looks like personal data (the word `email` in its name) "
            "but has no classification, and leaves as `pass` to every view",
        ),
    ]
    only = lint_mapping(
        mapping,
        load_ruleset(
            _ruleset(tmp_path, "rules:\n  likely-pii-classified: {options: {words: [company]}}\n")
        ),
    )
    assert [
        f.message.split("`")[1] for f in only.findings if f.rule == "likely-pii-classified"
    ] == [
        "contactMail",  # format: email, whatever the words
        "company",
    ]


def test_generate_counts_under_the_given_ruleset(tmp_path: Path) -> None:
    """`generate --ruleset` means what lint's does: the count and the details command follow it."""
    ruleset = ROOT / "mappings" / "ruleset.yaml"
    mapping = ROOT / "mappings" / "hr.shim.yaml"
    result = runner.invoke(
        app, ["generate", str(mapping), "-o", str(tmp_path / "shim"), "--ruleset", str(ruleset)]
    )
    assert result.exit_code == 0, result.stderr
    exempted = len(lint_mapping(mapping, load_ruleset(str(ruleset))).exempted)
    assert exempted
    assert result.stderr.splitlines()[-1] == (
        f"lint: 0 errors, {exempted} exempted under the ruleset {ruleset}; "
        f"details: shimgen lint --ruleset {ruleset} {mapping}"
    )
    strict = runner.invoke(
        app, ["generate", str(LOOSE), "-o", str(tmp_path / "s2"), "--ruleset", "authoritative"]
    )
    errors = len(lint_mapping(LOOSE, builtin("authoritative")).findings)
    assert strict.stderr.splitlines()[-1] == (
        f"lint: {errors} errors under the ruleset authoritative; "
        f"details: shimgen lint --ruleset authoritative {LOOSE}"
    )


def test_generate_with_a_bad_ruleset_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  owner-presnt: off\n", encoding="utf-8")
    out = tmp_path / "shim"
    result = runner.invoke(app, ["generate", str(LOOSE), "-o", str(out), "--ruleset", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{bad}:2:3: error[ruleset]: unknown rule `owner-presnt`")
    assert not out.exists()


def test_field_case_auto_follows_the_external_schemas_own_style() -> None:
    """GitHub's public-user is snake_case throughout: `auto` judges by snake, not camel."""
    from shimgen.lint.rules_style import dominant_case
    from shimgen.schema.model import SchemaNode

    def obj(*names: str) -> SchemaNode:
        return SchemaNode(kind="object", properties={n: SchemaNode(kind="string") for n in names})

    assert dominant_case(obj("id", "login", "avatar_url", "html_url", "twitterUsername")) == "snake"
    assert dominant_case(obj("id", "firstName", "lastName", "home_page")) == "camel"
    assert dominant_case(obj("id", "name")) == "camel"  # no name says anything: the default
    assert dominant_case(obj("First", "LastName")) == "pascal"
