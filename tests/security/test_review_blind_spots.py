"""Red-team (pass 8): changes that let more data cross while diff or review stay quiet.

Each test is one blind spot found by submitting a change as an insider would,
and fails without its fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shimgen.check import check_mapping
from shimgen.diff import Kind
from shimgen.review.model import build_report
from tests.diff_support import NAME_PASSED, diff_files, name_passed, only, schemas


def _with_secret_in_name() -> tuple[dict[str, Any], dict[str, Any]]:
    internal, external = schemas()
    internal["properties"]["name"]["properties"]["legal_alias"] = {
        "type": "string",
        "x-classification": "secret",
    }
    external["properties"]["name"]["properties"]["legal_alias"] = {"type": "string"}
    return internal, external


def test_a_schema_field_added_under_a_whole_pass_is_loosened(tmp_path: Path) -> None:
    """The mapping line `name: pass` stays; the schema gives `name` a secret field.

    Before the fix diff listed only the schema reference as neutral (nothing at
    all when the schema was edited in place), and exited 0 without a bump.
    """
    old = name_passed(tmp_path, "old", *schemas())
    new = name_passed(tmp_path, "new", *_with_secret_in_name())
    result = diff_files(old, new)
    [change] = only(result, "fields.name", Kind.LOOSENED)
    assert "`legal_alias` (secret)" in change.reason
    assert change.views == ("support", "billing", "no group")
    assert result.exit_code == 1
    # and the mirror: the field going away again is tightened, nothing loosened
    back = diff_files(new, old)
    assert [c.kind for c in only(back, "fields.name")] == [Kind.TIGHTENED]
    assert back.exit_code == 0


def test_a_classification_removed_inside_a_whole_pass_is_loosened(tmp_path: Path) -> None:
    """`x-classification: pii` dropped from `name.given` in the schema, `name: pass` unchanged."""
    internal, external = schemas()
    unmarked = json.loads(json.dumps(internal))
    del unmarked["properties"]["name"]["properties"]["given"]["x-classification"]
    old = name_passed(tmp_path, "old", internal, external)
    new = name_passed(tmp_path, "new", unmarked, external)
    result = diff_files(old, new)
    [change] = only(result, "fields.name", Kind.LOOSENED)
    assert "`given` (pii) no longer classified" in change.reason
    assert result.exit_code == 1
    assert [c.kind for c in only(diff_files(new, old), "fields.name")] == [Kind.TIGHTENED]


def test_review_lists_the_secrets_a_whole_pass_carries(tmp_path: Path) -> None:
    """The report listed `name` as unclassified and left it out of "Personal and
    secret data", though the copy carries a secret field."""
    mapping = name_passed(tmp_path, "new", *_with_secret_in_name())
    report = build_report(check_mapping(mapping))
    [row] = [r for r in report.sensitive if r.internal == "name"]
    assert "legal_alias (secret)" in row.classification
    assert "given (pii)" in row.classification


def test_merging_entries_into_a_whole_pass_shows_a_field_the_schema_added(tmp_path: Path) -> None:
    """`name.given` and `name.family` become `name: pass` while the schema adds a secret
    to `name` in the same change: each old entry matched the new copy, so the
    new field crossed with no change listed (exit 0)."""
    internal, external = schemas()
    split = NAME_PASSED.replace(
        "  name:        {{why: partner apps greet people by name}}\n",
        "  name.given:  {{why: partner apps greet people by name}}\n"
        "  name.family: {{why: partner apps greet people by name}}\n",
    )
    (tmp_path / "old.internal.json").write_text(json.dumps(internal), encoding="utf-8")
    (tmp_path / "old.external.json").write_text(json.dumps(external), encoding="utf-8")
    old = tmp_path / "old.shim.yaml"
    old.write_text(
        split.format(
            internal=tmp_path / "old.internal.json",
            external=tmp_path / "old.external.json",
            version=1,
        ),
        encoding="utf-8",
    )
    new = name_passed(tmp_path, "new", *_with_secret_in_name())
    result = diff_files(old, new)
    [change] = only(result, "fields.name", Kind.LOOSENED)
    assert "`legal_alias` (secret)" in change.reason
    assert result.exit_code == 1
    # the same merge without the schema change is still no change at all
    same = name_passed(tmp_path, "same", internal, external)
    assert [c for c in diff_files(old, same).changes if c.kind is not Kind.NEUTRAL] == []


def test_review_lists_what_a_classified_copy_carries(tmp_path: Path) -> None:
    """A copied object that is itself classified showed only its own class: `pii`, not
    the secret a schema change put inside it (reviewer walk). It shows both now."""
    internal, external = _with_secret_in_name()
    internal["properties"]["name"]["x-classification"] = "pii"
    mapping = name_passed(tmp_path, "new", internal, external)
    report = build_report(check_mapping(mapping))
    [row] = [r for r in report.sensitive if r.internal == "name"]
    assert row.classification.startswith("pii; carries ")
    assert "legal_alias (secret)" in row.classification
