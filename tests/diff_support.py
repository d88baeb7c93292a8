"""Helpers for the ``shimgen diff`` tests: variants of the fixture mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shimgen.diff import Change, DiffResult, Kind, diff_specs

FIXTURES = Path(__file__).parent / "fixtures" / "diff"
OLD = FIXTURES / "old.shim.yaml"
INTERNAL = FIXTURES / "schemas" / "person.internal.json"
EXTERNAL = FIXTURES / "schemas" / "person.external.json"


def variant(
    tmp: Path,
    name: str,
    *edits: tuple[str, str],
    internal: dict[str, Any] | None = None,
    append: str = "",
) -> Path:
    """The old fixture with text replacements, written to ``tmp/NAME.shim.yaml``.

    Schema references become absolute so the variant can live anywhere;
    ``internal`` replaces the internal schema with the given document.
    """
    text = OLD.read_text(encoding="utf-8")
    for before, after in edits:
        assert before in text, f"fixture has no {before!r}"
        text = text.replace(before, after)
    internal_path = INTERNAL
    if internal is not None:
        internal_path = tmp / f"{name}.internal.json"
        internal_path.write_text(json.dumps(internal), encoding="utf-8")
    text = text.replace("schemas/person.internal.json", str(internal_path))
    text = text.replace("schemas/person.external.json", str(EXTERNAL))
    out = tmp / f"{name}.shim.yaml"
    out.write_text(text + append, encoding="utf-8")
    return out


def internal_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(INTERNAL.read_text(encoding="utf-8"))
    return data


def diff_files(old: Path, new: Path) -> DiffResult:
    return diff_specs(str(old), str(new))


def only(result: DiffResult, subject: str, kind: Kind | None = None) -> list[Change]:
    """The changes about one subject (optionally of one kind)."""
    return [c for c in result.changes if c.subject == subject and (kind is None or c.kind is kind)]


def kinds(result: DiffResult, subject: str) -> set[Kind]:
    return {c.kind for c in only(result, subject)}


# ``name`` passed whole, the shape a schema change under an unchanged ``pass`` needs.
NAME_PASSED = """\
shim: person
version: {version}
owner: identity-team
internal: {{schema: {internal}}}
external: {{schema: {external}}}
groups:
  support: Customer support
  billing: Billing operations
fields:
  id:          {{to: personId, treat: tokenize, inbound: true}}
  email:       {{treat: mask_email, groups: {{support: pass}}, why: support replies by e-mail}}
  phone:       {{treat: {{mask: {{keep_last: 4}}}}}}
  ssn:         {{treat: drop, why: never leaves identity}}
  name:        {{why: partner apps greet people by name}}
  age:         drop
  salary:      drop
  birth_date:  drop
  status:      drop
  notes:       drop
"""


def schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """The fixture's internal and external schemas, to edit."""
    return (
        json.loads(INTERNAL.read_text(encoding="utf-8")),
        json.loads(EXTERNAL.read_text(encoding="utf-8")),
    )


def name_passed(
    tmp: Path, name: str, internal: dict[str, Any], external: dict[str, Any], version: int = 1
) -> Path:
    """``name`` passed whole, over the given schemas (as an insider's pull request would)."""
    i, e = tmp / f"{name}.internal.json", tmp / f"{name}.external.json"
    i.write_text(json.dumps(internal), encoding="utf-8")
    e.write_text(json.dumps(external), encoding="utf-8")
    out = tmp / f"{name}.shim.yaml"
    out.write_text(NAME_PASSED.format(internal=i, external=e, version=version), encoding="utf-8")
    return out
