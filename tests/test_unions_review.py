"""How review and diff describe a union passed whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shimgen.check import check_mapping
from shimgen.diff import Kind, diff_specs
from shimgen.review import review

BRANCHES: dict[str, Any] = {
    "Card": {
        "type": "object",
        "required": ["object", "last4"],
        "properties": {"object": {"const": "card"}, "last4": {"type": "string"}},
    },
    "Bank": {
        "type": "object",
        "required": ["object", "iban"],
        "properties": {"object": {"const": "bank"}, "iban": {"type": "string"}},
    },
    "Wallet": {
        "type": "object",
        "required": ["object", "email"],
        "properties": {"object": {"const": "wallet"}, "email": {"type": "string"}},
    },
}


def write(tmp: Path, name: str, branches: list[str]) -> Path:
    union = {"oneOf": [{"$ref": f"#/$defs/{b}"} for b in branches]}
    schema = {
        "$defs": {b: BRANCHES[b] for b in branches},
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "source": union,
            "history": {"type": "array", "items": union},
        },
    }
    (tmp / f"{name}.json").write_text(json.dumps(schema))
    path = tmp / f"{name}.shim.yaml"
    path.write_text(
        f"shim: pay\nversion: 1\nowner: tests\ndescription: unions\n"
        f"internal: {{schema: {name}.json}}\nexternal: {{schema: {name}.json}}\n"
        "fields:\n  id: pass\n  source: pass\n  history: drop\n"
    )
    return path


def test_review_lists_each_union_a_pass_copies(tmp_path: Path) -> None:
    result = check_mapping(write(tmp_path, "a", ["Card", "Bank"]))
    assert result.plan is not None, [f.format() for f in result.findings]
    md = review(result, "md")
    assert "## Unions copied whole" in md
    assert "| `source` | the field | `Card`, `Bank` | by the value of `object` |" in md
    assert "`history`" not in md.split("## Unions copied whole")[1].split("##")[0]  # dropped
    html = review(result, "html")
    assert 'id="unions"' in html and "<code>Card</code>, <code>Bank</code>" in html


def test_review_of_a_mapping_without_unions_has_no_union_section(tmp_path: Path) -> None:
    path = write(tmp_path, "a", ["Card", "Bank"])
    path.write_text(path.read_text().replace("source: pass", "source: drop"))
    result = check_mapping(path)
    assert result.plan is not None
    assert "Unions copied whole" not in review(result, "md")


def test_diff_reports_a_branch_gained_under_an_unchanged_pass(tmp_path: Path) -> None:
    old = write(tmp_path, "old", ["Card", "Bank"])
    new = write(tmp_path, "new", ["Card", "Bank", "Wallet"])
    changes = [c for c in diff_specs(str(old), str(new)).changes if c.subject == "fields.source"]
    assert [(c.kind, c.old, c.new) for c in changes] == [
        (Kind.LOOSENED, "Card, Bank", "Card, Bank, Wallet")
    ]
    assert "gained branch Wallet" in changes[0].reason
    back = [c for c in diff_specs(str(new), str(old)).changes if c.subject == "fields.source"]
    assert [c.kind for c in back] == [Kind.TIGHTENED]


def test_diff_names_the_branches_of_a_newly_passed_union(tmp_path: Path) -> None:
    old = write(tmp_path, "old", ["Card", "Bank"])
    old.write_text(old.read_text().replace("source: pass", "source: drop"))
    new = write(tmp_path, "new", ["Card", "Bank"])
    changes = [c for c in diff_specs(str(old), str(new)).changes if c.subject == "fields.source"]
    assert [c.kind for c in changes] == [Kind.LOOSENED]
    assert "(a union copied branch by branch: Card, Bank)" in changes[0].reason
