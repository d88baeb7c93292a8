"""``shimgen init``: a starting mapping that denies everything.

Every internal field is listed as ``drop``, so the author opens fields one by
one and the first ``check`` already passes deny by default.
"""

from __future__ import annotations

import os
from pathlib import Path

from shimgen.schema.loader import SchemaError, load_schema
from shimgen.schema.model import format_path, iter_leaves


class InitError(Exception):
    pass


def _split(spec: str) -> tuple[Path, str | None]:
    file, _, model = spec.partition("#")
    return Path(file), model or None


def initial_mapping(name: str, internal: str, external: str, out_dir: Path) -> str:
    """YAML text of a mapping over the two schemas, every field dropped."""
    sides = {}
    for side, spec in (("internal", internal), ("external", external)):
        path, model = _split(spec)
        try:
            sides[side] = load_schema(path.resolve(), model)
        except SchemaError as exc:
            raise InitError(f"{side} schema: {exc.message} ({exc.hint})") from None
    lines = [
        "# Editor support: `shimgen schema > mapping.schema.json`, then make the first line",
        "# `# yaml-language-server: $schema=<path to mapping.schema.json>`.",
        f"shim: {name}",
        "version: 1",
        "owner: TODO-team",
        "description: TODO what this boundary is for.",
    ]
    for side, loaded in sides.items():
        rel = os.path.relpath(loaded.path, out_dir)
        model = f", model: {loaded.model}" if loaded.model else ""
        lines.append(f"{side}: {{schema: {rel}{model}}}")
    lines += ["groups: {}", "fields:  # every internal field; open them one by one"]
    for leaf in iter_leaves(sides["internal"].root):
        note = f"  # {leaf.node.describe()}" + (", recursive" if leaf.recursive else "")
        if leaf.node.enum:
            note += ", one of " + ", ".join(str(v) for v in leaf.node.enum[:8])
        if leaf.node.classification:
            note += f", {leaf.node.classification}"
        lines.append(f"  {format_path(leaf.path)}: drop{note}")
    return "\n".join(lines) + "\n"
