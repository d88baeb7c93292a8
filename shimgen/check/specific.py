"""More specific wins: an entry inside another one governs its own subtree.

The enclosing entry becomes a *default*: it governs every other field under
it, fields the schema gains later included. The plan generates each field
exactly once, so a default is replaced by its *remainder*, one rule per field
that no more specific entry governs, each with the default's treatment,
groups, ``why:`` and ``inbound:``, and each checked as if written on its own
(findings stand on the default's line and name the field). The default
itself is kept, with its exceptions and remainder, in ``ShimPlan.entries``
for review, diff and lint.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from shimgen.check.plan import Rule
from shimgen.diagnostics import Code
from shimgen.mapping.model import Mapping
from shimgen.schema.model import (
    ARRAY,
    Kind,
    LoadedSchema,
    Path_,
    PathError,
    SchemaNode,
    format_path,
    lookup,
    parse_path,
)

if TYPE_CHECKING:
    from shimgen.check.resolve import Resolver


def enclosing(keys: dict[Path_, str]) -> set[Path_]:
    """Paths with a more specific entry below them: the entries at these paths are defaults."""
    return {p[:i] for p in keys for i in range(1, len(p))}


def default_to(mapping: Mapping, keys: dict[Path_, str], in_path: Path_) -> Path_:
    """``to:`` omitted: the same path, or below the nearest enclosing entry's ``to:``.

    ``meta: {to: metadata}`` with ``meta.lastUpdated: {treat: ...}`` sends
    the child to ``metadata.lastUpdated``: a more specific entry stays inside
    where its parent goes unless it says otherwise.
    """
    for n in range(len(in_path) - 1, 0, -1):
        key = keys.get(in_path[:n])
        if key is None:
            continue
        to = mapping.rule(key).to
        if to is None:
            continue
        try:
            return (*parse_path(to), *in_path[n:])
        except ValueError:
            break  # reported on the enclosing entry
    return in_path


def expand(r: Resolver, rules: list[Rule], external: LoadedSchema) -> tuple[list[Rule], list[Rule]]:
    """The rules to generate (each default replaced by its remainder) and the entries as written."""
    out: list[Rule] = []
    entries: list[Rule] = []
    for rule in rules:
        if rule.internal not in r.inner:
            out.append(rule)
            entries.append(rule)
            continue
        where: tuple[str | int, ...] = ("fields", rule.key)
        spec = r.m.rule(rule.key)
        treat_at = (*where, "treat") if "treat" in spec.model_fields_set else where
        to_at = (*where, "to") if spec.to is not None else where
        exceptions = tuple(  # in mapping order
            other.key
            for other in rules
            if len(other.internal) > len(rule.internal)
            and other.internal[: len(rule.internal)] == rule.internal
        )
        remainder: list[Rule] = []
        for path, node in _remainder(rule.in_node, rule.internal, r.mapped, r.inner):
            sub = _remainder_rule(r, rule, path, node, to_at, external)
            if sub is None:
                continue
            r.check_rule(sub, where, treat_at)
            remainder.append(sub)
        out.extend(remainder)
        entries.append(dataclasses.replace(rule, exceptions=exceptions, remainder=tuple(remainder)))
    return out, entries


def _remainder_rule(
    r: Resolver,
    default: Rule,
    path: Path_,
    node: SchemaNode,
    to_at: tuple[str | int, ...],
    external: LoadedSchema,
) -> Rule | None:
    rel = path[len(default.internal) :]
    out_path, out_node = path, None
    if default.out_node is not None:
        out_path = (*default.external, *rel)
        try:
            out_node = lookup(external.root, out_path)
        except PathError as exc:
            r.error(
                Code.UNKNOWN_EXTERNAL,
                f"`{default.key}` sends `{format_path(path)}` on to external "
                f"`{format_path(out_path)}`: {exc.message}",
                to_at,
                f"add `{format_path(path)}: drop` (or map it elsewhere), "
                "or add the field to the external schema",
            )
            return None
    return dataclasses.replace(
        default,
        internal=path,
        external=out_path,
        classification=r.classes.of(default.in_node, path, len(default.internal)),
        in_node=node,
        out_node=out_node,
        parent=default.key,
    )


def _remainder(
    node: SchemaNode, path: Path_, mapped: dict[Path_, str], inner: set[Path_]
) -> list[tuple[Path_, SchemaNode]]:
    """The fields under ``path`` that no more specific entry governs, outermost first.

    Only the way down to the more specific entries is opened: everything
    beside it is one field (a whole subtree) that the default governs.
    """
    out: list[tuple[Path_, SchemaNode]] = []
    if node.kind is Kind.ARRAY and node.items is not None:
        children = [((*path, ARRAY), node.items)]
    else:
        children = [((*path, name), child) for name, child in node.properties.items()]
    for child_path, child in children:
        if child_path in mapped:
            continue  # governed by its own entry
        if child_path in inner:
            out.extend(_remainder(child, child_path, mapped, inner))
        else:
            out.append((child_path, child))
    return out
