"""What a schema change does under a ``pass`` whose mapping line stayed.

The mapping line can stay ``name: {why: ...}`` while the internal schema under it
changes, and with it what crosses. :func:`carried_changes` reports it: fields the
copy gained or lost, fields inside it that lost (or gained) a pii/secret
classification, and what each path accepts. Branches gained or lost by a union
that already was one are :mod:`shimgen.diff.unions`'s. Every path is one the
walk of :func:`carried` names.

A copy sends the internal value unchanged, and the service holds every outbound
record to the internal schema (422 otherwise). So inside a copy the internal
schema *is* the allow-list: a type, ``enum``, bound, ``format`` or ``pattern``
that accepts more lets more (or other) data cross under a mapping line nobody
touched. Each such constraint is compared on its own (:func:`value_changes`), by
one question: does the new schema accept values the old one refused?

* only more accepted: **loosened**; only fewer: **tightened**;
* both (``format: date`` -> ``date-time``, a ``pattern`` rewritten, enum values
  swapped): **loosened**, since something new crosses and regex or format
  inclusion cannot be decided anyway;
* a ``description``: **neutral**, listed so the reader sees the schema moved.

On the external side only ``format`` is compared (:func:`external_formats`):
``check`` makes the internal schema promise every other constraint of the
external field a copy goes to, so relaxing one changes nothing that crosses,
and a tighter one that the copy no longer fits does not check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from shimgen.check.plan import Rule, View
from shimgen.check.unions import carried, flatten
from shimgen.diagnostics import one_line, some_of
from shimgen.diff.model import Change, Kind
from shimgen.diff.side import Side, field_subject, view_name
from shimgen.schema.model import Kind as SchemaKind
from shimgen.schema.model import Limits, SchemaNode, format_path

JSON_TYPES = {
    SchemaKind.OBJECT: "object",
    SchemaKind.MAP: "object",
    SchemaKind.ARRAY: "array",
    SchemaKind.STRING: "string",
    SchemaKind.INTEGER: "integer",
    SchemaKind.NUMBER: "number",
    SchemaKind.BOOLEAN: "boolean",
    SchemaKind.NULL: "null",
    SchemaKind.ANY: "any",
}

Bound = Callable[[Limits], Any]
BOUNDS: tuple[tuple[str, Bound], ...] = (
    ("maxLength", lambda lim: lim.max_length),
    ("minLength", lambda lim: lim.min_length),
    ("maxItems", lambda lim: lim.max_items),
    ("minItems", lambda lim: lim.min_items),
    ("maximum", lambda lim: (lim.maximum, lim.exclusive_maximum)),
    ("minimum", lambda lim: (lim.minimum, lim.exclusive_minimum)),
    ("multipleOf", lambda lim: lim.multiple_of),
)
"""Every bound :class:`Limits` keeps, with its keyword. Which of two bounds is
tighter is :meth:`Limits.meet`'s to say (the same rule that merges ``allOf``)."""


def inside_path(top: str, at: str) -> str:
    """A path inside a copy (``nickname``, ``[]``, ``<card>.number``) below the copied field."""
    if not at:
        return top
    return f"{top}{at}" if at[:1] in "[{<" else f"{top}.{at}"


def copied_nodes(node: SchemaNode, below: dict[str, SchemaNode]) -> dict[str, SchemaNode]:
    """The copied field itself (path ``""``) and every path :func:`carried` found below it."""
    return {"": node, **below}


def carried_changes(new: Side, a: Rule, b: Rule, views: list[View]) -> Iterator[Change]:
    """What a schema change did under a ``pass`` that stayed: fields the copy gained or
    lost, fields inside it that lost (or gained) a pii/secret classification, and
    what each path accepts (:func:`value_changes`).

    Only views that copy the field on both sides are concerned; a view whose
    treatment changed is reported by the treatment change. A branch gained by a
    union that was already copied is :func:`~shimgen.diff.unions.union_changes`'s.
    """
    copying = tuple(
        view_name(v)
        for v in views
        if a.treatment(v).definition.copies and b.treatment(v).definition.copies
    )
    if not copying:
        return
    before, after = carried(a.in_node), carried(b.in_node)
    line, subj = new.line(("fields", b.key)), field_subject(b)
    inside = copied_nodes(b.in_node, after)
    yield from value_changes(b, copied_nodes(a.in_node, before), inside, copying, line)
    yield from external_formats(a, b, inside, copying, line)
    if before.keys() == after.keys() and all(
        a.levels.shown(before[p].classification) == b.levels.shown(after[p].classification)
        for p in after
    ):
        return
    old_n, new_n = f"{len(before)} fields inside", f"{len(after)} fields inside"

    def known_union(path: str) -> bool:  # a new branch of a union copied before
        at = path.rfind("<")
        return at >= 0 and any(p.startswith(path[: at + 1]) for p in before)

    def retyped(path: str) -> bool:  # a branch of a value that was no union: a type change
        at = path.rfind("<")
        return path.endswith(">") and (at == 0 or path[:at] in before)

    gained = [p for p in after if p not in before]
    branch_new = [p for p in gained if p.endswith(">") and known_union(p)]
    gained = [p for p in gained if not retyped(p)]
    gained = [p for p in gained if not any(p.startswith(q) for q in branch_new)]
    if gained:
        reason = (
            f"the schema gave the copied value {len(gained)} more field(s): "
            f"{named_inside(gained, after, b)}; `pass` copies them too"
        )
        yield Change(Kind.LOOSENED, subj, reason, old_n, new_n, copying, line)
    lost = [p for p in before if p not in after]
    branch_gone = [p for p in lost if p.endswith(">")]
    lost = [p for p in lost if not any(p.startswith(q) for q in branch_gone)]
    if lost:
        reason = f"the copied value no longer carries {named_inside(lost, before, a)}"
        yield Change(Kind.TIGHTENED, subj, reason, old_n, new_n, copying, line)
    both = [p for p in after if p in before]
    unmarked = [
        p
        for p in both
        if a.levels.sensitive(before[p].classification)
        and not b.levels.sensitive(after[p].classification)
    ]
    if unmarked:
        reason = (
            f"inside the copy, {named_inside(unmarked, before, a)} no longer classified pii/secret, "
            "so passing the field no longer needs `why:` for them"
        )
        yield Change(
            Kind.LOOSENED, subj, reason, "pii/secret inside", "unclassified", copying, line
        )
    marked = [
        p
        for p in both
        if b.levels.sensitive(after[p].classification)
        and not a.levels.sensitive(before[p].classification)
    ]
    if marked:
        reason = f"inside the copy, {named_inside(marked, after, b)} now classified pii/secret"
        yield Change(
            Kind.TIGHTENED, subj, reason, "unclassified", "pii/secret inside", copying, line
        )


def named_inside(paths: list[str], side: dict[str, SchemaNode], rule: Rule) -> str:
    """Paths inside a copy as a reason lists them: pii/secret ones with their level."""
    marked = [
        f"`{p}` ({rule.levels.shown(side[p].classification)})"
        if rule.levels.sensitive(side[p].classification)
        else f"`{p}`"
        for p in paths
    ]
    return some_of(marked, 6)


def value_changes(
    rule: Rule,
    before: dict[str, SchemaNode],
    after: dict[str, SchemaNode],
    views: tuple[str, ...],
    line: int,
) -> Iterator[Change]:
    """One change per constraint that differs, at each path both copies carry.

    ``before`` and ``after`` are :func:`copied_nodes` of each side. A schema
    shared by several paths (one ``$ref``) is compared once, at the first path
    the copy reaches it by.
    """
    top = format_path(rule.internal)
    compared: set[tuple[int, int]] = set()
    for at, old, new, same in _pairs(before, after):
        if (id(old), id(new)) in compared:
            continue
        compared.add((id(old), id(new)))
        subject = one_line(f"fields.{top} (copy) {inside_path(top, at)}")
        for kind, was, now, reason in _differences(old, new, described=same):
            yield Change(kind, subject, reason, one_line(was), one_line(now), views, line)


def external_formats(
    a: Rule,
    b: Rule,
    after: dict[str, SchemaNode],
    views: tuple[str, ...],
    line: int,
) -> Iterator[Change]:
    """The one external constraint that can bound a copy: the ``format`` of a string
    whose internal schema declares none.

    ``check`` lets a copied string without a format reach an external field with
    one, and the service then refuses (never sends) a value that does not match;
    every other external constraint must be promised by the internal schema.
    Paths are matched by name, as the copy matches fields.
    """
    if a.out_node is None or b.out_node is None:
        return
    top = format_path(b.internal)
    was = copied_nodes(a.out_node, carried(a.out_node))
    now = copied_nodes(b.out_node, carried(b.out_node))
    compared: set[tuple[int, int]] = set()
    for at, x in was.items():
        y, inner = now.get(at), after.get(at)
        if y is None or inner is None or (id(x), id(y)) in compared:
            continue
        compared.add((id(x), id(y)))
        if inner.kind is not SchemaKind.STRING or inner.format or x.format == y.format:
            continue
        subject = one_line(f"fields.{top} (copy) {inside_path(top, at)}")
        for kind, old, new, reason in _text("format", x.format, y.format):
            reason = (
                f"the internal schema sets no format, the service checks the external one: {reason}"
            )
            yield Change(kind, subject, reason, one_line(old), one_line(new), views, line)


def _pairs(
    before: dict[str, SchemaNode], after: dict[str, SchemaNode]
) -> Iterator[tuple[str, SchemaNode, SchemaNode, bool]]:
    """Each path with its schema on both sides, and whether it is the same path. A value that became a union (or
    stopped being one) is also paired with its branch of the same JSON type
    (``nickname`` with ``nickname<string>``): a type list keeps ``maxLength``,
    ``format`` and the rest on its branches, and they must not go unseen (its
    ``description`` stays on the union)."""
    for at, new in after.items():
        if at in before:
            yield at, before[at], new, True
            continue
        was = _counterpart(at, before, new)
        if was is not None:
            yield at, was, new, False
    for at, old in before.items():
        now = None if at in after else _counterpart(at, after, old)
        if now is not None:
            yield at, old, now, False


def _counterpart(at: str, other: dict[str, SchemaNode], branch: SchemaNode) -> SchemaNode | None:
    """The plain value on the other side where ``at`` is a branch of a union on this one."""
    if not at.endswith(">"):
        return None
    plain = other.get(at[: at.rfind("<")])
    if plain is None or plain.kind is SchemaKind.UNION:
        return None
    return plain if JSON_TYPES.get(plain.kind) == JSON_TYPES.get(branch.kind) else None


Difference = tuple[Kind, str, str, str]  # kind, old, new, reason


def _differences(old: SchemaNode, new: SchemaNode, *, described: bool) -> Iterator[Difference]:
    found = _types(old, new)
    if found:
        yield found
    if old.kind is not SchemaKind.UNION and new.kind is not SchemaKind.UNION:
        # A type list moves format, pattern and bounds onto its branches: only
        # between two plain nodes do they mean the same thing.
        yield from _enum(old.enum, new.enum)
        yield from _text("format", old.format, new.format)
        yield from _text("pattern", old.pattern, new.pattern)
        yield from _bounds(old.limits, new.limits)
    if described and old.description != new.description:
        yield (
            Kind.NEUTRAL,
            old.description or "—",
            new.description or "—",
            "the schema's description changed; what crosses did not",
        )


def _type_names(node: SchemaNode) -> list[str]:
    """The JSON types ``node`` accepts, in schema order (``null`` last)."""
    kinds = flatten(node) if node.kind is SchemaKind.UNION else (node,)
    names = list(dict.fromkeys(JSON_TYPES.get(k.kind, k.kind.value) for k in kinds))
    if node.nullable or any(k.nullable for k in kinds):
        names = [n for n in names if n != "null"] + ["null"]
    return names


def _covers(types: list[str], name: str) -> bool:
    return name in types or "any" in types or (name == "integer" and "number" in types)


def _types(old: SchemaNode, new: SchemaNode) -> Difference | None:
    was, now = _type_names(old), _type_names(new)
    if old.kind is SchemaKind.UNION and new.kind is SchemaKind.UNION:
        # branches gained or lost are ``diff.unions``'s to report; null is not a branch
        was, now = [t for t in was if t == "null"], [t for t in now if t == "null"]
        shown = f"type {'|'.join(_type_names(old))}", f"type {'|'.join(_type_names(new))}"
    else:
        shown = f"type {'|'.join(was)}", f"type {'|'.join(now)}"
    gained = [t for t in now if not _covers(was, t)]
    lost = [t for t in was if not _covers(now, t)]
    if gained:
        return (
            Kind.LOOSENED,
            *shown,
            f"values of type {', '.join(gained)} now pass the internal schema and cross unchanged",
        )
    if lost:
        return Kind.TIGHTENED, *shown, f"values of type {', '.join(lost)} are now refused"
    return None


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _shown(values: tuple[Any, ...] | None) -> str:
    if values is None:
        return "no enum"
    return "enum " + some_of([_canon(v) for v in values], 8)


def _enum(old: tuple[Any, ...] | None, new: tuple[Any, ...] | None) -> Iterator[Difference]:
    if old is None and new is None:
        return
    was = {_canon(v) for v in old or ()}
    now = {_canon(v) for v in new or ()}
    if old is not None and new is not None and was == now:
        return
    if new is None:
        yield Kind.LOOSENED, _shown(old), _shown(new), "any value now crosses, not only the enum's"
        return
    gained = [_canon(v) for v in new if _canon(v) not in was]
    if old is not None and gained:
        reason = f"values {some_of(gained, 6)} now cross unchanged"
        yield Kind.LOOSENED, _shown(old), _shown(new), reason
    else:
        yield Kind.TIGHTENED, _shown(old), _shown(new), "values outside the enum are now refused"


def _text(keyword: str, old: str | None, new: str | None) -> Iterator[Difference]:
    """``format`` and ``pattern``: neither can be compared by inclusion, so any
    change but an addition lets values through that were refused."""
    if old == new:
        return
    was = f"{keyword} {old}" if old is not None else f"no {keyword}"
    now = f"{keyword} {new}" if new is not None else f"no {keyword}"
    if old is None:
        yield Kind.TIGHTENED, was, now, f"only values of that {keyword} cross now"
    elif new is None:
        yield Kind.LOOSENED, was, now, f"values of any {keyword} now cross unchanged"
    else:
        reason = f"values of the new {keyword} cross that the old one refused"
        yield Kind.LOOSENED, was, now, reason


def _bound(keyword: str, value: Any) -> str:
    if isinstance(value, tuple):
        value, exclusive = value
        if value is not None and exclusive:
            keyword = "exclusive" + keyword[0].upper() + keyword[1:]
    return f"no {keyword}" if value is None else f"{keyword} {value}"


def _bounds(old: Limits, new: Limits) -> Iterator[Difference]:
    tighter = old.meet(new)  # on a tie, or neither containing the other, the old bound
    for keyword, bound in BOUNDS:
        was, now = bound(old), bound(new)
        if was == now:
            continue
        shown = _bound(keyword, was), _bound(keyword, now)
        if bound(tighter) == now:
            yield Kind.TIGHTENED, *shown, f"values the new {keyword} refuses no longer cross"
        else:
            yield Kind.LOOSENED, *shown, f"values the old {keyword} refused now cross unchanged"
