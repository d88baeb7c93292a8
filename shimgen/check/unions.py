"""How a ``oneOf``/``anyOf`` value is copied branch by branch, decided once.

A union passed whole is copied like any other whole field: from an allow-list.
For each value the generated code first finds the branch the value belongs to,
then copies only that branch's declared fields. This module decides how the
branch is found, and refuses (with the branches named) a union whose branches
cannot be told apart at run time. The checker and the code generator both read
:func:`dispatch`, so anything ``check`` accepts, ``generate`` can generate.

Finding the branch, by the value's JSON type first:

* strings, numbers, booleans: copied as they are (a branch's enum is checked);
* arrays, maps: one branch of each; several only when every one of them is a
  plain copy (scalars all the way down), so that which one matches cannot
  change the output;
* objects: one branch; or an OpenAPI ``discriminator``; or a *tag*, a property
  every object branch requires, with an enum (``const``) per branch and no value
  shared between branches (Stripe's ``object``); or else a *structural* match:
  a record is branch B when it has every field B requires, no field that only
  other branches declare, and B's enum values where it has B's enum fields.
  That is accepted only when no record can match two branches (checked pairwise
  below); otherwise the union is refused at check time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from weakref import WeakKeyDictionary

from shimgen.schema.model import SCALARS, Kind, SchemaNode

PENDING = "\0pending"
"""The answer of a pair still being compared: read as "fits" (see :class:`Walk`)."""


class Walk:
    """One structural comparison: every (internal, external) pair met, with its answer.

    A pair met again while it is still being compared is a recursive copy, read
    as fitting (copies of finite values end): the greatest fixed point. Each pair
    is compared once per walk, so shared types cost one comparison, not one per
    path. A pair read as fitting that then turned out not to fit is in
    ``assumed`` with a failure: :func:`shimgen.treatments.fit.pass_fit` keeps
    the failures (they never rest on an assumption) and walks again.
    """

    __slots__ = ("answers", "assumed")

    def __init__(self) -> None:
        self.answers: dict[tuple[int, int], tuple[SchemaNode, SchemaNode, str | None]] = {}
        self.assumed: set[tuple[int, int]] = set()


Copying = Walk | None

Fit = Callable[[SchemaNode, SchemaNode, Copying], "str | None"]

PY_CLASSES: dict[Kind, tuple[str, ...]] = {
    Kind.STRING: ("str",),
    Kind.INTEGER: ("int",),
    Kind.NUMBER: ("int", "float"),
    Kind.BOOLEAN: ("bool",),
}


@dataclass(frozen=True)
class Shape:
    """What makes a record one object branch when nothing names the branch."""

    required: frozenset[str]
    foreign: frozenset[str]  # fields that only other object branches declare
    tags: tuple[tuple[str, tuple[Any, ...]], ...]  # (field, allowed values)


@dataclass(frozen=True)
class Dispatch:
    """The branches of one union, grouped by how the generated code reaches them."""

    node: SchemaNode
    branches: tuple[SchemaNode, ...]  # flattened, in schema order
    scalars: tuple[SchemaNode, ...]
    arrays: tuple[SchemaNode, ...]
    maps: tuple[SchemaNode, ...]
    objects: tuple[SchemaNode, ...]
    tag: str | None = None  # the field that names the object branch
    tag_values: tuple[tuple[Any, int], ...] = ()  # value -> index into ``objects``
    shapes: tuple[Shape, ...] = ()  # structural match, one per object branch
    fallback: SchemaNode | None = None  # free-form branch: an object no other branch claims

    @property
    def how(self) -> str:
        """How an object is matched to its branch, for messages and the review."""
        rest = (
            f"; any other object is {label(self.fallback)}, copied as {{}}" if self.fallback else ""
        )
        if len(self.objects) < (1 if self.fallback else 2):
            return "by JSON type" + rest
        if self.tag is not None:
            return f"by the value of `{self.tag}`" + rest
        return "by the fields each branch requires" + rest


_CACHE: WeakKeyDictionary[SchemaNode, Dispatch | str] = WeakKeyDictionary()


def label(node: SchemaNode) -> str:
    """A branch's short name for messages (never the whole nested description)."""
    if node.name:
        return node.name
    if node.kind is Kind.ARRAY and node.items is not None:
        return f"array of {node.items.name or node.items.kind.value}"
    if node.kind is Kind.MAP and node.values is not None:
        return f"map of {node.values.name or node.values.kind.value}"
    return node.kind.value + (f" ({node.format})" if node.format else "")


def names(nodes: tuple[SchemaNode, ...] | list[SchemaNode]) -> str:
    return ", ".join(label(n) for n in nodes)


def nullable(node: SchemaNode) -> bool:
    """A union that allows null, itself or through a branch."""
    return node.nullable or any(b.nullable or b.kind is Kind.NULL for b in flatten(node))


def flatten(node: SchemaNode) -> tuple[SchemaNode, ...]:
    """The branches of a union, with unions nested directly inside it opened."""
    out: list[SchemaNode] = []
    seen: set[int] = set()
    todo = list(reversed(node.variants))
    while todo:
        v = todo.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v.kind is Kind.UNION:
            todo.extend(reversed(v.variants))
        else:
            out.append(v)
    return tuple(out)


def dispatch(node: SchemaNode) -> Dispatch | str:
    """How to find the branch of a value of union ``node``, or why it cannot be done."""
    found = _CACHE.get(node)
    if found is None:
        found = _CACHE[node] = _dispatch(node)
    return found


def _dispatch(node: SchemaNode) -> Dispatch | str:
    branches = flatten(node)
    branches = tuple(b for b in branches if b.kind is not Kind.NULL)  # "or null": nullable
    untyped = [b for b in branches if b.kind is Kind.ANY]
    if untyped:
        return f"branch {label(untyped[0])} of the union could hold anything; drop or redact it"
    scalars = tuple(b for b in branches if b.kind in SCALARS)
    arrays = tuple(b for b in branches if b.kind is Kind.ARRAY)
    maps = tuple(b for b in branches if b.kind is Kind.MAP and not b.free_form)
    objects = tuple(b for b in branches if b.kind is Kind.OBJECT)
    # Free-form branches declare no field: an object no other branch claims is
    # theirs, and its copy is {} (several of them copy the same {}).
    fallback = next((b for b in branches if b.free_form), None) if not maps else None
    for group, what in ((arrays, "array"), (maps, "map")):
        if len(group) > 1 and not all(plain(b) for b in group):
            return (
                f"the {what} branches {names(group)} cannot be told apart "
                f"(a value may fit several, and each copies different fields)"
            )
    if maps and objects:
        return (
            f"the map branch {names(maps)} and the object branches {names(objects)} "
            "cannot be told apart (both are JSON objects)"
        )
    base = Dispatch(node, branches, scalars, arrays, maps, objects, fallback=fallback)
    if len(objects) < (1 if fallback else 2):
        return base
    found = _by_discriminator(node, branches, objects) or _by_tag(objects)
    if found is not None:
        tag, values = found
        return replace(base, tag=tag, tag_values=values)
    shapes = _shapes(objects)
    for i, a in enumerate(objects):
        for j in range(i + 1, len(objects)):
            b = objects[j]
            if not _separable(a, shapes[i], b, shapes[j]):
                return (
                    f"the object branches {label(a)} and {label(b)} cannot be told apart: "
                    "no discriminator, no field with a different constant in each, and a "
                    f"record of one may be a record of the other (branches: {names(objects)})"
                )
    return replace(base, shapes=tuple(shapes))


def _by_discriminator(
    node: SchemaNode, branches: tuple[SchemaNode, ...], objects: tuple[SchemaNode, ...]
) -> tuple[str, tuple[tuple[Any, int], ...]] | None:
    d = node.discriminator
    if d is None or len(node.variants) != len(branches):
        return None  # nested unions renumber the branches; fall back to the fields
    index = {id(o): i for i, o in enumerate(objects)}
    values = tuple(
        (value, index[id(node.variants[i])])
        for value, i in d.values
        if id(node.variants[i]) in index
    )
    return (d.prop, values) if values else None


def _by_tag(objects: tuple[SchemaNode, ...]) -> tuple[str, tuple[tuple[Any, int], ...]] | None:
    """A field every object branch requires, with disjoint enums: it names the branch."""
    first = objects[0]
    for prop in sorted(first.required):
        values: list[tuple[Any, int]] = []
        for i, o in enumerate(objects):
            child = o.properties.get(prop)
            if prop not in o.required or child is None or child.enum is None:
                break
            values.extend((v, i) for v in child.enum)
        else:
            plain_values = [v for v, _ in values]
            hashable = all(isinstance(v, str | int | float | bool) for v in plain_values)
            if hashable and len(set(plain_values)) == len(plain_values):
                return prop, tuple(values)
    return None


def _shapes(objects: tuple[SchemaNode, ...]) -> list[Shape]:
    declared = [frozenset(o.properties) for o in objects]
    every = frozenset().union(*declared)
    return [
        Shape(
            o.required,
            every - declared[i],
            tuple(
                (k, c.enum)
                for k, c in o.properties.items()
                if c.enum is not None
                and all(isinstance(v, str | int | float | bool) for v in c.enum)
            ),
        )
        for i, o in enumerate(objects)
    ]


def _separable(a: SchemaNode, sa: Shape, b: SchemaNode, sb: Shape) -> bool:
    """No record matches both ``a`` and ``b`` (see :class:`Shape` and the module doc).

    Both match only if each one's required fields are declared by the other (a
    field only one declares excludes the other), unless a field required by
    either carries enums in both that share no value.
    """
    if not sa.required <= b.properties.keys() or not sb.required <= a.properties.keys():
        return True
    tags_a, tags_b = dict(sa.tags), dict(sb.tags)
    return any(
        k in tags_b and not set(tags_a[k]) & set(tags_b[k])
        for k in tags_a
        if k in sa.required | sb.required
    )


def plain(node: SchemaNode, seen: frozenset[int] = frozenset()) -> bool:
    """A copy of ``node`` only checks types: it never leaves a field out."""
    if id(node) in seen:
        return False
    seen = seen | {id(node)}
    if node.kind in SCALARS:
        return True
    if node.kind is Kind.ARRAY and node.items is not None:
        return plain(node.items, seen)
    if node.kind is Kind.MAP and node.values is not None:
        return plain(node.values, seen)
    if node.kind is Kind.UNION:
        return all(plain(v, seen) for v in flatten(node))
    return False


def scalar_only(node: SchemaNode) -> bool:
    """A union of strings, numbers and booleans without enums: checking the
    value's type inline is the whole copy. (With an enum, the copy function
    checks the value too.)"""
    branches = flatten(node)  # empty for a union made only of itself: no value fits it
    return (
        node.kind is Kind.UNION
        and bool(branches)
        and all(v.kind in SCALARS and v.enum is None for v in branches)
    )


def copied_unions(node: SchemaNode) -> list[tuple[str, SchemaNode]]:
    """Every union a whole-field copy of ``node`` goes through, with where it is
    in the copy (``<card>.owner.address``: a branch in angle brackets, ``[]``
    for items, ``{}`` for map values), shallowest first; each union once."""
    seen: set[int] = set()
    found: list[tuple[str, SchemaNode]] = []
    todo: list[tuple[SchemaNode, str]] = [(node, "")]
    while todo:
        n, at = todo.pop(0)
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind is Kind.UNION:
            found.append((at, n))
            d = dispatch(n)
            branches = d.branches if isinstance(d, Dispatch) else ()
            todo.extend((b, f"{at}<{label(b)}>") for b in branches)
            continue
        todo.extend((c, path) for path, c in _inside(n, at))
    return found


def _inside(n: SchemaNode, at: str) -> list[tuple[str, SchemaNode]]:
    """The fields, items and map values of a node that is not a union, named as a copy
    names them below ``at`` (``a.b``, ``a[]``, ``a{}``)."""
    children = [(f"{at}.{k}" if at else k, c) for k, c in n.properties.items()]
    if n.items is not None:
        children.append((f"{at}[]", n.items))
    if n.values is not None:
        children.append((f"{at}{{}}", n.values))
    return children


def carried(node: SchemaNode) -> dict[str, SchemaNode]:
    """Every path a whole-field copy of ``node`` carries below it -> its schema,
    named as :func:`copied_unions` names them (``<card>.owner``, ``[]``, ``{}``).

    Every edge is listed (a new property that ``$ref``s a definition seen
    elsewhere in the copy is still a new path), but each node is opened once,
    so recursive schemas end and the walk is bounded by the schema's size.
    Review lists the pii/secret paths a copy carries; diff compares the paths
    of two sides, since a schema change under an unchanged ``pass`` changes
    what crosses without changing the mapping.
    """
    out: dict[str, SchemaNode] = {}
    opened: set[int] = set()
    todo: list[tuple[SchemaNode, str]] = [(node, "")]
    while todo:
        n, at = todo.pop(0)
        if id(n) in opened:
            continue
        opened.add(id(n))
        if n.kind is Kind.UNION:
            children = [(f"{at}<{label(b)}>", b) for b in n.variants]
        else:
            children = _inside(n, at)
        for path, child in children:
            out.setdefault(path, child)
            todo.append((child, path))
    return out


def copy_refusal(node: SchemaNode) -> str | None:
    """Why a whole-field copy of ``node`` cannot be generated: a union somewhere
    inside it (at any depth, through fields, items, map values and branches)
    whose branches cannot be told apart, named with where it is in the copy.
    None when every union can be dispatched."""
    for at, union in copied_unions(node):
        d = dispatch(union)
        if isinstance(d, str):
            return f"at `{at}` inside the copy: {d}" if at else d
    return None


def pairs(
    src: SchemaNode, dst: SchemaNode | None, fit: Fit, stack: Copying = None
) -> list[tuple[SchemaNode, SchemaNode | None, str | None]]:
    """Each internal branch with the external schema its copy must fit, and why not.

    ``dst`` a union: the same branch if the external union shares it, else a
    branch of the same name, else the first one it fits. A copied scalar keeps
    its JSON type, so a scalar branch only pairs with the same type (or an
    integer with a number).
    """
    d = dispatch(src)
    branches = d.branches if isinstance(d, Dispatch) else flatten(src)
    targets = flatten(dst) if dst is not None and dst.kind is Kind.UNION else None
    out: list[tuple[SchemaNode, SchemaNode | None, str | None]] = []
    for b in branches:
        if dst is None:
            out.append((b, None, None))
        elif targets is None:
            out.append((b, dst, _fit(b, dst, fit, stack)))
        else:
            ordered = sorted(
                targets,
                key=lambda t: (t is not b, not (b.name and t.name == b.name)),
            )
            match, why = None, None
            for t in ordered:
                reason = _fit(b, t, fit, stack)
                if reason is None:
                    match, why = t, None
                    break
                if why is None and (t is b or (b.name and t.name == b.name)):
                    why = f"branch {label(b)}: {reason}"  # its own counterpart says why
            if match is None and why is None:
                why = f"branch {label(b)} fits no branch of the external union ({names(targets)})"
            out.append((b, match, why))
    return out


def _fit(b: SchemaNode, t: SchemaNode, fit: Fit, stack: Copying) -> str | None:
    if t.kind is Kind.UNION:
        return fit(b, t, stack)
    same = b.kind is t.kind or (b.kind is Kind.INTEGER and t.kind is Kind.NUMBER)
    if not same and t.kind is not Kind.ANY:  # a copy keeps the value's JSON type
        return f"{label(b)} is copied as it is and is not {label(t)}"
    return fit(b, t, stack)


def union_fit(src: SchemaNode, dst: SchemaNode, stack: Copying, fit: Fit) -> str | None:
    """Why a whole copy of union ``src`` does not fit ``dst`` (the first branch that does not)."""
    d = dispatch(src)
    if isinstance(d, str):
        return d
    for _b, _t, why in pairs(src, dst, fit, stack):
        if why is not None:
            return why
    return None


def summary(node: SchemaNode) -> str:
    """One line for the review: the branches and how a record finds its own."""
    d = dispatch(node)
    if isinstance(d, str):
        return d
    return (
        f"union of {names(d.branches)}; a copy keeps only the declared fields of the "
        f"branch a value matches, found {d.how}"
    )
