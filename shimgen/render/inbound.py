"""Inbound code model: external payload -> internal record, allow-list only.

Scopes are keyed by the external side here. Each external object level gets
a mass-assignment guard (its allowed keys), and each inbound field reverses
its treatment: ``pass`` re-checks the type, ``tokenize`` detokenizes with the
field's binding, ``map`` looks the value up in the inverse table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shimgen.render.codegen import (
    Function,
    Namer,
    Scope,
    Stmt,
    parents,
    ptr,
)
from shimgen.schema.model import Path_, SchemaNode, format_path
from shimgen.treatments import Treatment
from shimgen.treatments.base import Site, set_literal

if TYPE_CHECKING:
    from shimgen.check.plan import Rule
    from shimgen.render.codegen import Generator


def inbound(gen: Generator, scope: Scope, base: str, label: str) -> str:
    fn = Function(
        gen.names(f"_{base}"),
        f"External -> internal, view: {label}.",
        "d: Any, p: str, errs: list[Problem]",
    )
    gen.mod.functions.append(fn)
    elem = [e for e in scope.entries if e.out_rel == ()]
    if elem:  # scalar array items
        e = elem[0]
        assert e.rule is not None and e.treatment is not None
        fn.keys = e.treatment.definition.needs_keys
        fn.body.append(
            Stmt("in_value", {"expr": reverse(gen, e.rule, e.treatment, e.rule.in_node)})
        )
        fn.returns = ""
        return fn.name
    fn.body.append(Stmt("in_guard", {}))
    local = Namer()
    objects: dict[Path_, str] = {(): "d"}
    touched = scope.rel_paths("out")
    for path in parents(touched):
        objects[path] = local("d_" + "_".join(path))
    for path, var in objects.items():
        allowed = {t[len(path)] for t in touched if t[: len(path)] == path and len(t) > len(path)}
        if path:
            fn.body.append(
                Stmt(
                    "in_object",
                    {"var": var, "src": objects[path[:-1]], "key": path[-1], "ptr": ptr(path)},
                )
            )
        fn.body.append(
            Stmt(
                "in_deny",
                {"var": var, "allowed": gen.const("allow", set_literal(allowed)), "ptr": ptr(path)},
            )
        )
    fn.body.append(Stmt("new_object", {"var": "o"}))
    for e in scope.entries:
        assert e.rule is not None and e.treatment is not None
        fn.keys |= e.treatment.definition.needs_keys
        fn.body.append(
            Stmt(
                "in_leaf",
                {
                    "comment": f"{format_path(e.rule.external)} -> {format_path(e.rule.internal)}: reverse {e.treatment}",
                    "src": objects[e.out_rel[:-1]],
                    "key": e.out_rel[-1],
                    "ptr": ptr(e.out_rel),
                    "put": _put(e.in_rel),
                    "expr": reverse(gen, e.rule, e.treatment, e.rule.in_node),
                    "nullable": e.rule.in_node.nullable,
                },
            )
        )
    for c in scope.children:
        child = inbound(gen, c, base, label)
        fn.body.append(
            Stmt(
                "in_array",
                {
                    "src": objects[c.out_rel[:-1]],
                    "key": c.out_rel[-1],
                    "ptr": ptr(c.out_rel),
                    "put": _put(c.in_rel),
                    "fn": child,
                },
            )
        )
    return fn.name


def _put(path: Path_) -> str:
    """A statement prefix that stores ``value`` at an internal path."""
    if len(path) == 1:
        return f"o[{path[0]!r}] = "
    return f"_s.put(o, {path!r}, "


def reverse(gen: Generator, rule: Rule, t: Treatment, node: SchemaNode) -> str:
    """Expression turning checked external ``v`` into the internal value (the treatment's)."""
    site = Site(node, rule.out_node, repr(gen.plan.context(rule)), "p")
    return t.definition.inbound(t, gen, site)
