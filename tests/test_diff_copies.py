"""``shimgen diff``: what the schema accepts inside a copy whose mapping line did not change.

``name: {why: ...}`` passes ``name`` whole; only the internal schema of
``name.nickname`` changes between the sides. A copy sends the value unchanged and
the service holds it to the internal schema, so a type, enum, bound, format or
pattern that accepts more is loosened (docs/diff.md, "Inside a copy"). Before,
only fields added or removed inside a copy (and classifications) were seen, and
each of these diffs said nothing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from shimgen.diff import Change, DiffResult, Kind
from shimgen.diff.render import to_text
from tests.diff_support import diff_files, internal_schema, name_passed, schemas, variant

L, T, N = Kind.LOOSENED, Kind.TIGHTENED, Kind.NEUTRAL
MIRROR = {L: T, T: L, N: N}
NICK = "fields.name (copy) name.nickname"


def _accepting(*specs: dict[str, Any]) -> dict[str, Any]:
    """An external field that takes the values of every one of ``specs`` (no constraints)."""
    types: set[str] = set()
    for spec in specs:
        t = spec.get("type", "string")
        types.update(t if isinstance(t, list) else [t])
    return {"type": sorted(types), "items": {"type": "string"}}


def _with(
    nickname: dict[str, Any], external: dict[str, Any] | None = None, **more: dict[str, Any]
) -> tuple[dict[str, Any], ...]:
    internal, outside = schemas()
    internal["properties"]["name"]["properties"].update(
        nickname=copy.deepcopy(nickname), **copy.deepcopy(more)
    )
    fits = external or _accepting(nickname)
    outside["properties"]["name"]["properties"].update({k: fits for k in ("nickname", *more)})
    return internal, outside


def _diff(
    tmp: Path, before: dict[str, Any], after: dict[str, Any], version: int = 1, **more: Any
) -> DiffResult:
    """``name`` passed whole on both sides; ``nickname`` (and ``more``) inside it."""
    fits = _accepting(before, after)
    old = name_passed(tmp, "old", *_with(before, fits, **more))
    new = name_passed(tmp, "new", *_with(after, fits, **more), version=version)
    return diff_files(old, new)


def _inside(result: DiffResult) -> list[Change]:
    """Every change about ``name`` or a path inside its copy."""
    return [c for c in result.changes if c.subject.startswith("fields.name")]


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        ({"type": "string"}, {"type": ["string", "object"]}, "type string|object"),
        ({"type": "string"}, {"type": ["string", "integer"]}, "type string|integer"),
        ({"type": "integer"}, {"type": "number"}, "type number"),
        ({"type": "string"}, {"type": ["string", "null"]}, "type string|null"),
    ],
)
def test_a_type_widened_inside_a_copy_is_loosened(
    tmp_path: Path, before: dict[str, Any], after: dict[str, Any], shown: str
) -> None:
    result = _diff(tmp_path, before, after)
    [change] = [c for c in _inside(result) if c.old and c.old.startswith("type ")]
    assert change.kind is L and change.subject == NICK
    assert change.new == shown
    assert change.views == ("support", "billing", "no group")
    assert result.exit_code == 1
    assert f"{NICK} [support, billing, no group]: {change.old} → {shown}" in to_text(result)
    assert _diff(tmp_path, before, after, version=2).exit_code == 0  # listed, but bumped
    back = _diff(tmp_path, after, before)
    assert [c.kind for c in _inside(back)] == [T]
    assert back.exit_code == 0


def test_a_type_changed_inside_a_copy_is_loosened_both_ways(tmp_path: Path) -> None:
    """integer -> string: values of a type that never crossed now do, and back again."""
    integer, string = {"type": "integer"}, {"type": "string"}
    result = _diff(tmp_path, integer, string)
    assert [(c.kind, c.old, c.new) for c in _inside(result)] == [(L, "type integer", "type string")]
    assert [c.kind for c in _inside(_diff(tmp_path, string, integer))] == [L]


def test_a_value_becoming_a_union_is_one_type_change_not_new_fields(tmp_path: Path) -> None:
    """``nickname<string>`` and ``nickname<integer>`` are the old value retyped, not
    two fields the copy gained; the bounds moved onto the string branch are still compared."""
    result = _diff(tmp_path, {"type": "string", "maxLength": 20}, {"type": ["string", "integer"]})
    assert sorted((c.kind, c.subject, c.old, c.new) for c in _inside(result)) == [
        (L, NICK, "type string", "type string|integer"),
        (L, f"{NICK}<string>", "maxLength 20", "no maxLength"),
    ]


def test_a_bound_removed_inside_a_copy_is_loosened(tmp_path: Path) -> None:
    result = _diff(tmp_path, {"type": "string", "maxLength": 20}, {"type": "string"})
    [change] = _inside(result)
    assert (change.kind, change.subject) == (L, NICK)
    assert (change.old, change.new) == ("maxLength 20", "no maxLength")
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("before", "after", "kind", "back"),
    [
        ({"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, L, T),
        ({"enum": ["a", "b"]}, {}, L, T),
        ({"enum": ["a", "b"]}, {"enum": ["a", "c"]}, L, L),  # both ways: something new crosses
        ({"format": "email"}, {}, L, T),
        ({"format": "email"}, {"format": "idn-email"}, L, L),
        ({"pattern": "^[a-z]+$"}, {}, L, T),
        ({"pattern": "^[a-z]+$"}, {"pattern": "^[a-z0-9]+$"}, L, L),
        ({"maxLength": 20}, {"maxLength": 40}, L, T),
        ({"minLength": 3}, {"minLength": 1}, L, T),
    ],
)
def test_each_constraint_inside_a_copy(
    tmp_path: Path, before: dict[str, Any], after: dict[str, Any], kind: Kind, back: Kind
) -> None:
    old, new = {"type": "string", **before}, {"type": "string", **after}
    assert [c.kind for c in _inside(_diff(tmp_path, old, new))] == [kind]
    assert [c.kind for c in _inside(_diff(tmp_path, new, old))] == [back]


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ({"type": "array", "items": {"type": "string"}, "maxItems": 3}, {"maxItems": 5}, L),
        ({"type": "integer", "exclusiveMinimum": 0}, {"minimum": 0}, L),
        ({"type": "integer", "maximum": 10}, {"maximum": 100}, L),
        ({"type": "integer", "multipleOf": 2}, {"multipleOf": 4}, T),
    ],
)
def test_bounds_of_arrays_and_numbers(
    tmp_path: Path, before: dict[str, Any], after: dict[str, Any], kind: Kind
) -> None:
    bounds = ("maxItems", "minimum", "exclusiveMinimum", "maximum", "multipleOf")
    new = {k: v for k, v in before.items() if k not in bounds} | after
    assert [c.kind for c in _inside(_diff(tmp_path, before, new))] == [kind]
    assert [c.kind for c in _inside(_diff(tmp_path, new, before))] == [MIRROR[kind]]


def test_a_constraint_tightened_inside_a_copy_is_tightened(tmp_path: Path) -> None:
    before = {"type": "string", "maxLength": 20}
    after = {"type": "string", "maxLength": 10, "format": "email", "enum": ["a@b.c"]}
    result = _diff(tmp_path, before, after)
    assert sorted((c.kind, c.old, c.new) for c in _inside(result)) == [
        (T, "maxLength 20", "maxLength 10"),
        (T, "no enum", 'enum "a@b.c"'),
        (T, "no format", "format email"),
    ]
    assert result.exit_code == 0


def test_a_description_change_inside_a_copy_is_neutral_and_listed(tmp_path: Path) -> None:
    before = {"type": "string", "description": "what friends call them"}
    after = {"type": "string", "description": "a name\n\x1b[2Jthey chose"}
    result = _diff(tmp_path, before, after)
    [change] = _inside(result)
    assert (change.kind, change.subject) == (N, NICK)
    assert (change.old, change.new) == ("what friends call them", "a name\\n\\x1b[2Jthey chose")
    assert result.exit_code == 0


def test_unchanged_copies_and_fields_not_copied_produce_no_line(tmp_path: Path) -> None:
    """``name.given`` and ``name.family`` did not change, and ``notes`` (dropped) and
    ``phone`` (masked) are not copies: only the one change inside the copy is listed."""
    internal, external = _with({"type": "string"})
    old = name_passed(tmp_path, "old", internal, external)
    changed = copy.deepcopy(internal)
    props = changed["properties"]
    props["name"]["properties"]["nickname"]["maxLength"] = 5
    props["notes"]["maxLength"] = 5
    del props["phone"]["x-classification"]
    props["phone"]["format"] = "phone"
    new = name_passed(tmp_path, "new", changed, external)
    result = diff_files(old, new)
    assert [(c.subject, c.kind) for c in result.changes if "(copy)" in c.subject] == [(NICK, T)]
    same = name_passed(tmp_path, "same", internal, external)
    assert [c for c in diff_files(old, same).changes if "(copy)" in c.subject] == []


def test_a_schema_shared_inside_a_copy_is_compared_once(tmp_path: Path) -> None:
    """``nickname`` and ``alias`` are one ``$ref``: its bound removed is one change."""

    def shared(maximum: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        internal, external = _with({"$ref": "#/$defs/Nick"}, alias={"$ref": "#/$defs/Nick"})
        internal["$defs"] = {"Nick": {"type": "string", **maximum}}
        return internal, external

    old = name_passed(tmp_path, "old", *shared({"maxLength": 20}))
    new = name_passed(tmp_path, "new", *shared({}))
    [change] = _inside(diff_files(old, new))
    assert change.kind is L and change.subject.startswith("fields.name (copy) name.")


def test_a_field_passed_as_it_is_is_a_copy_of_itself(tmp_path: Path) -> None:
    """``notes: pass`` on a string copies it whole: its own bound is compared too."""
    loose = internal_schema()
    loose["properties"]["notes"]["maxLength"] = 500
    passed = ("notes:       drop", "notes:       pass")
    old = variant(tmp_path, "old", passed, internal=loose)
    new = variant(tmp_path, "new", passed)
    [change] = [c for c in diff_files(old, new).changes if "(copy)" in c.subject]
    assert (change.kind, change.subject) == (L, "fields.notes (copy) notes")
    assert (change.old, change.new) == ("maxLength 500", "no maxLength")


def test_an_external_format_bounds_a_copy_only_where_the_internal_sets_none(
    tmp_path: Path,
) -> None:
    """The service refuses output that does not match the external schema, and ``check``
    lets an unformatted internal string reach a formatted external field: there, the
    external ``format`` is what bounds the copy. Every other external constraint is
    promised by the internal schema (``check``), so relaxing it changes nothing."""
    email = {"type": "string", "format": "email", "maxLength": 50}
    plain = {"type": "string", "maxLength": 40}
    for internal, expected in ((plain, [L]), (email, [])):
        old = name_passed(tmp_path, "old", *_with(internal, email))
        new = name_passed(tmp_path, "new", *_with(internal, {"type": "string"}))
        result = diff_files(old, new)
        assert [c.kind for c in _inside(result)] == expected
        assert [c.kind for c in _inside(diff_files(new, old))] == [MIRROR[k] for k in expected]
    old = name_passed(tmp_path, "old", *_with(plain, email))
    new = name_passed(tmp_path, "new", *_with(plain, {"type": "string"}))
    [change] = _inside(diff_files(old, new))
    assert (change.subject, change.old, change.new) == (NICK, "format email", "no format")
