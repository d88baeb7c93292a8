"""``shimgen init``: a starting mapping that denies everything.

Every internal field is listed as ``drop``, so the author opens fields one by
one and the first ``check`` already passes deny by default. Names are data:
each key is written in the path syntax (``shimgen.schema.pathsyntax``) and
quoted for YAML when any YAML reader could take it for something else
(``shimgen.mapping.yamltext``), so what ``init`` writes ``check`` reads back.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from shimgen.diagnostics import one_line, some_of
from shimgen.mapping.model import ShimName
from shimgen.mapping.yamltext import scalar
from shimgen.schema.loader import SchemaError, load_schema
from shimgen.schema.model import (
    ARRAY,
    Kind,
    Leaf,
    LoadedSchema,
    SchemaNode,
    format_path,
    iter_leaves,
)
from shimgen.schema.refs import available_models
from shimgen.suggest import Suggester


class InitError(Exception):
    pass


_SHIM_NAME: TypeAdapter[str] = TypeAdapter(ShimName)


def check_name(name: str) -> None:
    """The rule ``check`` applies to ``shim:`` (the mapping model's type): refuse now, not later."""
    try:
        _SHIM_NAME.validate_python(name)
    except ValidationError as exc:
        raise InitError(
            f"shim name `{name}`: {exc.errors()[0]['msg']} "
            "\n  hint: use lowercase letters, digits and dashes, starting with a letter: `customer`"
        ) from None


def _split(spec: str) -> tuple[Path, str | None]:
    """``FILE#MODEL``; the model is everything after the first ``#`` (``User--Full``, ``a.b``)."""
    file, _, model = spec.partition("#")
    return Path(file), model or None


def initial_mapping(
    name: str,
    internal: str,
    external: str,
    out_dir: Path,
    *,
    suggest: bool = False,
    compact: bool = False,
) -> str:
    """YAML text of a mapping over the two schemas, every field dropped.

    ``suggest``: a comment on each field names its likely external target.
    ``compact``: one ``drop`` per top-level field instead of one per leaf; the
    author opens a field inside one by adding a more specific entry below it.
    """
    check_name(name)
    sides = {}
    for side, spec in (("internal", internal), ("external", external)):
        path, model = _split(spec)
        try:
            sides[side] = load_schema(path.resolve(), model)
        except SchemaError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            raise InitError(f"{side} schema: {exc.located()}{hint}") from None
        root = sides[side].root
        if model is None and not any(True for _ in iter_leaves(root)):
            # A file of definitions ($defs, components) has no fields at its root: without
            # a model the mapping would list nothing, which `check` then calls malformed.
            raise InitError(
                f"{side} schema: {path} has no fields at its root; name the model to map "
                f"as {path}#MODEL ({available_models(path)})"
            )
        if side == "internal" and not any(True for _ in iter_leaves(root)):
            # The same for a named model (a union, a string, an object without
            # properties): found on 194 of the 809 components of the real schemas.
            raise InitError(f"internal schema: {path}#{model} {_no_fields(root)}")
    lines = _header(name, sides, out_dir)
    if compact:
        lines += COMPACT_HEAD
        leaves = top_level(sides["internal"].root)
        notes = [_compact_note(leaf) for leaf in leaves]
    else:
        lines += ["groups: {}", "fields:  # every internal field; open them one by one"]
        leaves = list(iter_leaves(sides["internal"].root))
        notes = [_note(leaf) for leaf in leaves]
    if suggest:
        found = Suggester(sides["external"].root).targets(leaves)
        notes = [
            f"{note}; {s.comment()}" if s else f"{note}; no likely external target"
            for note, s in zip(notes, found, strict=True)
        ]
    for leaf, note in zip(leaves, notes, strict=True):
        lines.append(f"  {scalar(format_path(leaf.path))}: drop  # {one_line(note)}")
    return "\n".join(lines) + "\n"


def _no_fields(root: SchemaNode) -> str:
    """Why a model has no field to map, and what to map instead."""
    if root.kind is Kind.UNION:
        names = some_of([v.name or v.describe() for v in root.variants], 4)
        return (
            f"is one of several schemas ({names}), not an object with fields: "
            "a mapping maps the fields of one object; name one of them as the model"
        )
    if root.kind in (Kind.OBJECT, Kind.MAP, Kind.ANY):
        return (
            f"declares no fields ({root.describe()}), so a mapping would send nothing "
            "of it; name the model that holds the data"
        )
    return (
        f"is a single value ({root.describe()}), not an object with fields; "
        "name the model with a field that holds it"
    )


def _header(name: str, sides: dict[str, LoadedSchema], out_dir: Path) -> list[str]:
    lines = [
        "# Editor support: `shimgen schema > mapping.schema.json`, then make the first line",
        "# `# yaml-language-server: $schema=<path to mapping.schema.json>`.",
        f"shim: {scalar(name)}",
        "version: 1",
        "owner: TODO-team",
        "description: TODO what this boundary is for.",
    ]
    for side, loaded in sides.items():
        rel = scalar(os.path.relpath(loaded.path, out_dir), flow=True)
        model = f", model: {scalar(loaded.model, flow=True)}" if loaded.model else ""
        lines.append(f"{side}: {{schema: {rel}{model}}}")
    return lines


def _note(leaf: Leaf) -> str:
    """What the field is, for the comment beside it."""
    note = leaf.node.describe() + (", recursive" if leaf.recursive else "")
    if leaf.node.enum:
        note += ", one of " + ", ".join(str(v) for v in leaf.node.enum[:8])
    if leaf.node.classification:
        note += f", {leaf.node.classification}"
    return note


# -- init --compact ----------------------------------------------------------------------

COMPACT_HEAD = [
    "groups: {}",
    "fields:  # one drop per top-level field; open a field inside one with a more",
    "  # specific entry below it (`meta.lastUpdated: {treat: pass}`): it wins for",
    "  # its own subtree, and the enclosing drop still covers everything else",
]


def top_level(root: SchemaNode) -> list[Leaf]:
    """One entry per top-level field (``init --compact``).

    Each stays the default for everything under it, fields the schema gains
    later included, so the short file is the same boundary as the full listing.
    """
    return [Leaf((name,), node, recursive=False) for name, node in root.properties.items()]


def _compact_note(leaf: Leaf) -> str:
    note = leaf.node.describe()
    inside = _inside(leaf.node, leaf.path)
    if inside:
        note += f", {inside} field{'s' if inside > 1 else ''} inside"
    if leaf.node.classification:
        note += f", {leaf.node.classification}"
    return note


def _inside(node: SchemaNode, path: tuple[str, ...]) -> int:
    """How many leaf fields a full listing would give under ``node`` (0: it is one)."""
    if node.kind is Kind.ARRAY and node.items is not None:
        node, path = node.items, (*path, ARRAY)
    if node.kind is not Kind.OBJECT or not node.properties:
        return 0
    return sum(1 for _ in iter_leaves(node, path))
