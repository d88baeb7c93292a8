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

from shimgen.mapping.yamltext import comment, scalar
from shimgen.schema.loader import SchemaError, load_schema
from shimgen.schema.model import Leaf, LoadedSchema, format_path, iter_leaves
from shimgen.suggest import Suggester


class InitError(Exception):
    pass


def _split(spec: str) -> tuple[Path, str | None]:
    """``FILE#MODEL``; the model is everything after the first ``#`` (``User--Full``, ``a.b``)."""
    file, _, model = spec.partition("#")
    return Path(file), model or None


def initial_mapping(
    name: str, internal: str, external: str, out_dir: Path, *, suggest: bool = False
) -> str:
    """YAML text of a mapping over the two schemas, every field dropped.

    ``suggest``: a comment on each field names its likely external target.
    """
    sides = {}
    for side, spec in (("internal", internal), ("external", external)):
        path, model = _split(spec)
        try:
            sides[side] = load_schema(path.resolve(), model)
        except SchemaError as exc:
            raise InitError(f"{side} schema: {exc.message} ({exc.hint})") from None
    lines = _header(name, sides, out_dir)
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
        lines.append(f"  {scalar(format_path(leaf.path))}: drop  # {comment(note)}")
    return "\n".join(lines) + "\n"


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
