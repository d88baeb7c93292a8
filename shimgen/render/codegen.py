"""Turn a :class:`ShimPlan` into the code model that ``translate.py.j2`` renders.

For each view (functional group, plus "no group") and direction, the plan's
rules are arranged into *scopes*: the record itself, and one scope per array
level (``cards[]`` paired with ``paymentMethods[]``). Each scope becomes one
straight-line function of typed statements (:mod:`shimgen.render.codemodel`).
This module decides what the statements are, in both directions; the
templates only lay them out.

Inbound, scopes are keyed by the external side: each external object level
gets a mass-assignment guard (its allowed keys), and each inbound field
reverses its treatment (``pass`` re-checks the type, ``tokenize`` detokenizes
with the field's binding, ``map`` looks the value up in the inverse table).
Which fields a view may send is :func:`shimgen.render.servicespec.inbound_rules`,
the one definition the OpenAPI document and the README read too.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field

from shimgen.check.plan import Derived, Rule, ShimPlan
from shimgen.check.unions import scalar_only
from shimgen.render import codemodel as cm
from shimgen.render.codemodel import Function, Module, ViewFns, ptr
from shimgen.render.servicespec import inbound_rules
from shimgen.render.unions import union_copier
from shimgen.schema.model import ARRAY, SCALARS, Kind, Path_, SchemaNode, format_path
from shimgen.treatments import PASS, Treatment
from shimgen.treatments.base import Site, set_literal
from shimgen.treatments.fit import untyped_field


@dataclass
class Entry:
    rule: Rule | None
    derived: Derived | None
    treatment: Treatment | None
    in_rel: Path_
    out_rel: Path_


@dataclass
class Scope:
    in_rel: Path_ = ()
    out_rel: Path_ = ()
    entries: list[Entry] = field(default_factory=list)
    children: list[Scope] = field(default_factory=list)

    def rel_paths(self, side: str) -> list[Path_]:
        """The relative paths the scope touches on one side ("in" or "out"): entries and arrays."""
        items: list[Entry | Scope] = [*self.entries, *self.children]
        return [x.in_rel if side == "in" else x.out_rel for x in items]

    def child(self, in_rel: Path_, out_rel: Path_) -> Scope:
        for c in self.children:
            if c.in_rel == in_rel:
                return c
        c = Scope(in_rel, out_rel)
        self.children.append(c)
        return c


def _split(path: Path_) -> list[Path_]:
    parts: list[list[str]] = [[]]
    for seg in path:
        if seg == ARRAY:
            parts.append([])
        else:
            parts[-1].append(seg)
    return [tuple(p) for p in parts]


def build_scopes(entries: list[tuple[Rule, Treatment]], derived: list[Derived]) -> Scope:
    """Arrange rules by array level (arrays are paired one to one, checked earlier)."""
    root = Scope()
    for rule, t in entries:
        ins, outs = _split(rule.internal), _split(rule.external)
        scope = root
        for a, b in zip(ins[:-1], outs[:-1], strict=True):
            scope = scope.child(a, b)
        scope.entries.append(Entry(rule, None, t, ins[-1], outs[-1]))
    for d in derived:
        root.entries.append(Entry(None, d, None, (), d.external))
    return root


def fstring(template: str) -> str:
    """``"{0} {1}"`` -> ``f"{a0} {a1}"``: same result as str.format, without the call."""
    out = ""
    for literal, field_name, spec, conversion in string.Formatter().parse(template):
        out += literal.replace("{", "{{").replace("}", "}}")
        if field_name is not None:
            out += (
                "{a"
                + field_name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
    return "f" + repr(out)


def pointer_expr(ptr: str, base: str = "p") -> str:
    """Python expression of a JSON pointer: root functions have ``p``, array items ``p`` and ``i``.

    Item pointers are only formatted on the error path, so the hot path never builds one.
    """
    head = 'f"{p}/{i}"' if base == "item" else "p"
    return f"{head} + {ptr!r}" if ptr else head


def parents(paths: Iterable[Path_]) -> list[Path_]:
    """The nested objects on the way to ``paths`` (proper, non-empty prefixes), outermost first."""
    return sorted({p[:i] for p in paths for i in range(1, len(p))}, key=lambda p: (len(p), p))


class Namer:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, base: str) -> str:
        lead = "_" if base.startswith("_") else ""
        base = lead + (re.sub(r"\W+", "_", base).strip("_").lower() or "x")
        name, n = base, 1
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name


class Generator:
    """Builds the code model of one plan's ``translate.py``, outbound and inbound."""

    def __init__(self, plan: ShimPlan) -> None:
        self.plan = plan
        self.mod = Module()
        self.names = Namer()
        self.consts: dict[str, str] = {}
        self.copiers: dict[tuple[int, int], str] = {}

    def const(self, prefix: str, value: str) -> str:
        if value not in self.consts:
            self.consts[value] = self.names(prefix).upper()
            self.mod.constants.append((self.consts[value], value))
        return self.consts[value]

    def build(self) -> Module:
        for view in self.plan.views:
            label = view or "no group"
            out_entries = [
                (r, r.treatment(view)) for r in self.plan.rules if r.treatment(view).emits
            ]
            derived = [d for d in self.plan.derived if d.emitted(view)]
            out_fn = self.outbound(
                build_scopes(out_entries, derived), f"out_{view or 'nogroup'}", label
            )
            in_entries = [(r, r.treatment(view)) for r in inbound_rules(self.plan, view)]
            in_fn = self.inbound(build_scopes(in_entries, []), f"in_{view or 'nogroup'}", label)
            self.mod.views.append(ViewFns(view, out_fn, in_fn))
        return self.mod

    # -- outbound -------------------------------------------------------------------

    def outbound(self, scope: Scope, base: str, label: str, item: bool = False) -> str:
        params = "r: Any, p: str, i: int" if item else "r: dict[str, Any], p: str"
        fn = Function(
            self.names(f"_{base}"),
            f"Internal -> external, view: {label}.",
            params,
            base="item" if item else "p",
        )
        self.mod.functions.append(fn)
        elem = [e for e in scope.entries if e.in_rel == () and e.rule is not None]
        if elem:  # scalar array items: the function maps one value
            e = elem[0]
            assert e.rule is not None and e.treatment is not None
            fn.params, fn.returns = "v: Any, p: str, i: int", ""
            fn.keys = e.treatment.definition.needs_keys
            where = pointer_expr("", fn.base)
            fn.body.append(
                cm.ReturnValue(
                    check=self.check(e.rule.in_node, e.treatment),
                    expr=self.expr(e.rule, e.treatment, e.rule.in_node, e.rule.out_node, where),
                )
            )
            return fn.name
        fn.body.append(cm.OutGuard())
        local = Namer()
        reads = self.reads(fn, scope, "r", local)
        outs: dict[Path_, str] = {(): "o"}
        fn.body.append(cm.NewObject(var="o"))
        for path in parents(scope.rel_paths("out")):
            outs[path] = local("o_" + "_".join(path))
            fn.body.append(cm.NewObject(var=outs[path]))
        for e in scope.entries:
            target, key = outs[e.out_rel[:-1]], e.out_rel[-1]
            if e.derived is not None:
                fn.body.append(self.derived_stmt(e.derived, reads, target, key))
                continue
            assert e.rule is not None and e.treatment is not None
            fn.body.append(self.leaf(fn, e.rule, e.treatment, e.in_rel, reads, target, key))
        for c in scope.children:
            child_fn = self.outbound(c, base, label, item=True)
            fn.body.append(
                cm.Array(
                    src=reads[c.in_rel[:-1]],
                    key=c.in_rel[-1],
                    ptr=ptr(c.in_rel),
                    target=outs[c.out_rel[:-1]],
                    tkey=c.out_rel[-1],
                    fn=child_fn,
                )
            )
        for path in sorted((p for p in outs if p), key=lambda p: (len(p), p), reverse=True):
            fn.body.append(cm.Attach(parent=outs[path[:-1]], key=path[-1], var=outs[path]))
        return fn.name

    def leaf(
        self,
        fn: Function,
        rule: Rule,
        t: Treatment,
        in_rel: Path_,
        reads: dict[Path_, str],
        target: str,
        key: str,
    ) -> cm.Leaf:
        """One treated field of an outbound function."""
        fn.keys |= t.definition.needs_keys
        node, out_node = rule.in_node, rule.out_node
        assert out_node is not None
        return cm.Leaf(
            comment=f"{format_path(rule.internal)} -> {format_path(rule.external)}: {t}",
            src=reads[in_rel[:-1]],
            key=in_rel[-1],
            ptr=ptr(in_rel),
            target=target,
            tkey=key,
            check=self.check(node, t),
            expr=self.expr(rule, t, node, out_node, pointer_expr(ptr(in_rel), fn.base)),
            null_out=out_node.nullable or t.definition.output_kind is Kind.NULL,
            risky=t.definition.raises,
            keyerror=t.definition.lookup,
        )

    def reads(self, fn: Function, scope: Scope, root: str, local: Namer) -> dict[Path_, str]:
        """Declare one variable per nested internal object the scope reads from."""
        sources = [s for e in scope.entries if e.derived is not None for s in e.derived.sources]
        reads: dict[Path_, str] = {(): root}
        for path in parents([*scope.rel_paths("in"), *sources]):
            reads[path] = local(f"{root}_" + "_".join(path))
            fn.body.append(
                cm.ReadObject(var=reads[path], src=reads[path[:-1]], key=path[-1], ptr=ptr(path))
            )
        return reads

    def derived_stmt(self, d: Derived, reads: dict[Path_, str], target: str, key: str) -> cm.Node:
        if d.count:
            src = d.sources[0]
            return cm.Count(
                comment=f"derived {d.name}: number of items of {ptr(src)}",
                target=target,
                tkey=key,
                src=reads[src[:-1]],
                key=src[-1],
                ptr=ptr(src),
            )
        if d.template is None:
            return cm.Const(
                comment=f"derived {d.name}: constant",
                target=target,
                tkey=key,
                value=repr(d.const),
            )
        return cm.Template(
            comment=f"derived {d.name}: {d.template!r}",
            target=target,
            tkey=key,
            template=fstring(d.template),
            sources=tuple(
                cm.TemplateSource(f"a{i}", reads[s[:-1]], s[-1], ptr(s))
                for i, s in enumerate(d.sources)
            ),
        )

    def check(self, node: SchemaNode, t: Treatment) -> str:
        """An inline condition that is true when ``v`` is NOT acceptable input for ``t``.

        Every treated scalar is checked against the internal schema's type, so
        a value of the wrong shape fails loudly instead of being transformed
        (or, for ``pass``, copied) into the output. The treatment decides.
        """
        return t.definition.input_check(t, self, node)

    def expr(
        self, rule: Rule, t: Treatment, node: SchemaNode, out: SchemaNode | None, where: str
    ) -> str:
        """The expression producing the external value from a checked ``v``."""
        site = Site(node, out, repr(self.plan.context(rule)), where)
        expr = t.definition.outbound(t, self, site)
        kind = t.definition.output(t, node)[0] or node.kind
        to_text = kind is Kind.INTEGER and out is not None and out.kind is Kind.STRING
        # check accepts an integer into a string field without format; pass converts
        # on its own, a treated integer (`year`, `round`) is converted here
        return f"str({expr})" if to_text and not t.definition.copies else expr

    # -- whole-field copies ------------------------------------------------------------

    def copier(self, node: SchemaNode, out: SchemaNode | None) -> str:
        """A generated function that copies a whole object/array/map by its schema (allow-list)."""
        key = (id(node), id(out))
        if key in self.copiers:  # views share copy functions
            return self.copiers[key]
        name = self.copiers[key] = self.names(f"_copy_{node.name or node.kind.value}")
        fn = Function(
            name, f"Copy {node.describe()}: declared fields only.", "v: Any, p: str", returns=""
        )
        self.mod.functions.append(fn)
        if node.kind is Kind.OBJECT or node.free_form:  # free-form: no declared field, {}
            fn.body.append(
                cm.CopyObject(
                    fields=tuple(
                        cm.CopyField(
                            k,
                            ptr((k,)),
                            self.copy_check(c),
                            self.element_copier(c, out.properties.get(k) if out else None),
                        )
                        for k, c in node.properties.items()
                        if not untyped_field(node, k)
                    )
                )
            )
        elif node.kind is Kind.ARRAY and node.items is not None:
            fn.body.append(
                cm.CopyArray(
                    check=self.copy_check(node.items),
                    copier=self.element_copier(node.items, out.items if out else None),
                )
            )
        elif node.kind is Kind.UNION:  # branch by branch: shimgen.render.unions
            fn.doc, stmt = union_copier(self, node, out)
            fn.body.append(stmt)
        elif node.kind is Kind.MAP and node.values is not None:
            fn.body.append(
                cm.CopyMap(
                    check=self.copy_check(node.values),
                    copier=self.element_copier(node.values, out.values if out else None),
                )
            )
        return name

    def copy_check(self, node: SchemaNode) -> str:
        if node.kind in SCALARS or scalar_only(node):
            return self.check(node, PASS)
        if node.kind is Kind.OBJECT or node.kind is Kind.MAP:
            return "v.__class__ is not dict"
        if node.kind is Kind.ARRAY:
            return "v.__class__ is not list"
        return ""

    def element_copier(self, node: SchemaNode, out: SchemaNode | None) -> str:
        """The copier of an element (called with its pointer ``q``); "" for a value copied as is."""
        if node.kind in SCALARS or scalar_only(node):
            return ""
        return self.copier(node, out)

    # -- inbound ------------------------------------------------------------------------

    def inbound(self, scope: Scope, base: str, label: str) -> str:
        """The function turning one external scope back into internal fields (allow-list)."""
        fn = Function(
            self.names(f"_{base}"),
            f"External -> internal, view: {label}.",
            "d: Any, p: str, errs: list[Problem]",
        )
        self.mod.functions.append(fn)
        elem = [e for e in scope.entries if e.out_rel == ()]
        if elem:  # scalar array items: the function reverses one value
            e = elem[0]
            assert e.rule is not None and e.treatment is not None
            fn.params, fn.returns = "v: Any, p: str, errs: list[Problem]", ""
            fn.keys = e.treatment.definition.needs_keys
            fn.body.append(cm.InValue(expr=self.reverse(e.rule, e.treatment)))
            return fn.name
        fn.body.append(cm.InGuard())
        local = Namer()
        objects: dict[Path_, str] = {(): "d"}
        touched = scope.rel_paths("out")
        for path in parents(touched):
            objects[path] = local("d_" + "_".join(path))
        for path, var in objects.items():
            n = len(path)
            allowed = {t[n] for t in touched if t[:n] == path and len(t) > n}
            if path:
                fn.body.append(
                    cm.InObject(var=var, src=objects[path[:-1]], key=path[-1], ptr=ptr(path))
                )
            fn.body.append(
                cm.InDeny(var=var, allowed=self.const("allow", set_literal(allowed)), ptr=ptr(path))
            )
        fn.body.append(cm.NewObject(var="o"))
        for e in scope.entries:
            assert e.rule is not None and e.treatment is not None
            fn.keys |= e.treatment.definition.needs_keys
            fn.body.append(
                cm.InLeaf(
                    comment=f"{format_path(e.rule.external)} -> {format_path(e.rule.internal)}:"
                    f" reverse {e.treatment}",
                    src=objects[e.out_rel[:-1]],
                    key=e.out_rel[-1],
                    ptr=ptr(e.out_rel),
                    put=e.in_rel,
                    expr=self.reverse(e.rule, e.treatment),
                    nullable=e.rule.in_node.nullable,
                )
            )
        for c in scope.children:
            child = self.inbound(c, base, label)
            fn.body.append(
                cm.InArray(
                    src=objects[c.out_rel[:-1]],
                    key=c.out_rel[-1],
                    ptr=ptr(c.out_rel),
                    put=c.in_rel,
                    fn=child,
                )
            )
        return fn.name

    def reverse(self, rule: Rule, t: Treatment) -> str:
        """Expression turning checked external ``v`` into the internal value (the treatment's)."""
        site = Site(rule.in_node, rule.out_node, repr(self.plan.context(rule)), "p")
        return t.definition.inbound(t, self, site)
