"""Classification levels are declared, never guessed.

The built-in levels stay (public, internal, pii, secret). A mapping, or the
lint ruleset file it ``extends:``, declares an organisation's own levels and
what each counts as; a declared level then behaves as its target in check,
lint, review and diff. An unknown level anywhere is an error that lists the
known ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shimgen.check import check_mapping
from shimgen.diagnostics import Code
from shimgen.diff import diff_specs
from shimgen.diff.model import Kind
from shimgen.lint.engine import lint_mapping
from shimgen.lint.rulesets import RulesetError, builtin, load_ruleset
from shimgen.mapping.levels import BUILTIN_LEVELS, LevelError, Levels, parse_levels
from shimgen.review.model import build_report

SCHEMA = {
    "$defs": {
        "Person": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "nickname": {"type": "string"},
                "salary": {"type": "integer", "x-classification": "LEVEL"},
            },
        }
    }
}


def write(
    tmp: Path,
    head: str = "",
    fields: str = "  id: drop\n  nickname: pass\n  salary: drop\n",
    *,
    level: str = "internal",
    version: int = 1,
    name: str = "m.shim.yaml",
) -> Path:
    schema = tmp / f"{name}.schema.json"
    schema.write_text(json.dumps(SCHEMA).replace("LEVEL", level), encoding="utf-8")
    text = (
        f"shim: person\nversion: {version}\nowner: t\n"
        f"internal: {{schema: {schema.name}, model: Person}}\n"
        f"external: {{schema: {schema.name}, model: Person}}\n"
        f"{head}fields:\n{fields}"
    )
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def findings(path: Path) -> list[tuple[Code, int, str, str]]:
    return [(f.code, f.line, f.message, f.hint) for f in check_mapping(path).findings]


# -- the levels table ----------------------------------------------------------------


def test_levels_count_as_their_target() -> None:
    levels = Levels({"confidential": "pii", "restricted": "secret", "open": "public"})
    assert levels.counts_as("confidential") == "pii" and levels.counts_as("pii") == "pii"
    assert levels.sensitive("restricted") and not levels.sensitive("open")
    assert levels.shown("confidential") == "confidential (pii)" and levels.shown("pii") == "pii"
    assert levels.known() == (*BUILTIN_LEVELS, "confidential", "open", "restricted")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"pii": "secret"}, "built-in level and cannot be redeclared"),
        ({"confidential": "private"}, "not a built-in level"),
        ({"restricted": "confidential"}, "not a built-in level"),  # no chains
        (["confidential"], "maps each of your levels"),
    ],
)
def test_bad_declarations(value: object, text: str) -> None:
    with pytest.raises(LevelError, match=text):
        parse_levels(value, ("levels",))


# -- check ---------------------------------------------------------------------------


def test_unknown_level_in_classification_is_an_error_listing_known_levels(tmp_path: Path) -> None:
    path = write(tmp_path, "classification: {nickname: confidential}\n")
    (found,) = findings(path)
    code, line, message, hint = found
    assert (code, line) == (Code.BAD_CLASSIFICATION, 6)
    assert "unknown classification level `confidential`" in message
    assert "public, internal, pii, secret" in hint and "levels:" in hint


def test_declared_level_counts_as_pii_in_check(tmp_path: Path) -> None:
    head = "levels: {confidential: pii}\nclassification: {nickname: confidential}\n"
    (found,) = findings(write(tmp_path, head))
    code, line, message, _ = found
    assert (code, line) == (Code.MISSING_WHY, 10)
    assert message.startswith("confidential (pii) field `nickname`")
    fixed = "  id: drop\n  nickname: {treat: pass, why: greeting}\n  salary: drop\n"
    assert findings(write(tmp_path, head, fixed)) == []


def test_unknown_x_classification_in_the_schema_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, level="confidential")
    found, external = findings(path)  # both sides read the same file here
    assert (external[0], external[1]) == (Code.BAD_CLASSIFICATION, 5)
    assert external[2].startswith("external schema: ")
    code, line, message, hint = found
    assert (code, line) == (Code.BAD_CLASSIFICATION, 4)  # the `internal:` schema reference
    assert "unknown x-classification `confidential` at #/$defs/Person/properties/salary" in (
        message
    )
    assert "public, internal, pii, secret" in hint


def test_declared_x_classification_counts_as_its_target(tmp_path: Path) -> None:
    head = "levels: {confidential: pii}\n"
    fields = "  id: drop\n  nickname: drop\n  salary: pass\n"
    found = findings(write(tmp_path, head, fields, level="confidential"))
    assert [(c, m.split(" field")[0]) for c, _, m, _ in found] == [
        (Code.MISSING_WHY, "confidential (pii)")
    ]


def test_levels_from_the_ruleset_the_mapping_extends(tmp_path: Path) -> None:
    base = tmp_path / "org.ruleset.yaml"
    base.write_text("extends: autonomous\nlevels: {restricted: secret}\n", encoding="utf-8")
    team = tmp_path / "team.ruleset.yaml"
    team.write_text("extends: org.ruleset.yaml\nlevels: {confidential: pii}\n", encoding="utf-8")
    head = "extends: team.ruleset.yaml\nclassification: {nickname: restricted}\n"
    fields = "  id: drop\n  nickname: {treat: hash}\n  salary: pass\n"
    path = write(tmp_path, head, fields, level="confidential")
    found = findings(path)
    assert [(c, m.split(" field")[0]) for c, _, m, _ in found] == [
        (Code.MISSING_WHY, "confidential (pii)")
    ]
    result = check_mapping(write(tmp_path, head, fields.replace("salary: pass", "salary: drop")))
    assert result.plan is not None
    (nick,) = [r for r in result.plan.rules if r.key == "nickname"]
    assert (nick.classification, nick.level) == ("restricted", "secret")
    # the ruleset itself loads for lint, levels and all
    assert load_ruleset(str(team)).name == str(team)


def test_a_bad_ruleset_the_mapping_extends_is_positioned(tmp_path: Path) -> None:
    (tmp_path / "org.ruleset.yaml").write_text("levels: {pii: secret}\n", encoding="utf-8")
    path = write(tmp_path, "extends: org.ruleset.yaml\n")
    (found,) = findings(path)
    code, line, message, _ = found
    assert (code, line) == (Code.BAD_CLASSIFICATION, 6)
    assert "org.ruleset.yaml:1:" in message and "cannot be redeclared" in message
    with pytest.raises(RulesetError, match="cannot be redeclared"):
        load_ruleset(str(tmp_path / "org.ruleset.yaml"))


def test_a_missing_ruleset_is_an_error(tmp_path: Path) -> None:
    (found,) = findings(write(tmp_path, "extends: nowhere.yaml\n"))
    assert found[0] is Code.BAD_CLASSIFICATION and "cannot read ruleset" in found[2]


def test_redeclaring_a_builtin_in_the_mapping(tmp_path: Path) -> None:
    (found,) = findings(write(tmp_path, "levels: {secret: pii}\n"))
    assert found[0] is Code.BAD_CLASSIFICATION and found[1] == 6


# -- lint, review, diff --------------------------------------------------------------


def test_lint_treats_a_declared_secret_as_secret(tmp_path: Path) -> None:
    head = "levels: {restricted: secret}\nclassification: {nickname: restricted}\n"
    fields = "  id: drop\n  nickname: {treat: {mask: {keep_last: 2}}}\n  salary: drop\n"
    result = lint_mapping(write(tmp_path, head, fields), builtin("authoritative"))
    assert result.linted
    hits = [f.message for f in result.findings if f.rule == "secret-strict-treatment"]
    assert len(hits) == 1 and hits[0].startswith("restricted (secret) field `nickname` reaches")


def test_review_lists_a_declared_level_as_sensitive(tmp_path: Path) -> None:
    head = "levels: {confidential: pii}\nclassification: {nickname: confidential}\n"
    fields = "  id: drop\n  nickname: {treat: pass, why: greeting}\n  salary: drop\n"
    report = build_report(check_mapping(write(tmp_path, head, fields)))
    assert [(f.internal, f.classification) for f in report.sensitive] == [
        ("nickname", "confidential (pii)")
    ]


def test_diff_declassifying_to_a_public_level_is_loosened(tmp_path: Path) -> None:
    levels = "levels: {confidential: pii, open: public}\n"
    fields = "  id: drop\n  nickname: {treat: pass, why: greeting}\n  salary: drop\n"
    old = write(tmp_path, levels + "classification: {nickname: confidential}\n", fields, name="a")
    new = write(
        tmp_path, levels + "classification: {nickname: open}\n", fields, name="b", version=2
    )
    result = diff_specs(str(old), str(new))
    (change,) = [c for c in result.changes if c.subject == "fields.nickname"]
    assert change.kind is Kind.LOOSENED
    assert (change.old, change.new) == ("confidential (pii)", "open (public)")
