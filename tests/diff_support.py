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
