"""Code model of a union copy: find the value's branch, copy that branch only.

The decisions are :func:`shimgen.check.unions.dispatch`'s (the same the checker
accepted); this module only turns them into one :class:`CopyUnion` statement whose
groups (typed, one class per way of telling branches apart) the templates lay out as
``if`` blocks, one per JSON type. Object
branches are copied by the ordinary whole-object copiers, so an undeclared
field of a branch's record is never emitted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shimgen.check.types import pass_fit
from shimgen.check.unions import (
    PY_CLASSES,
    Dispatch,
    dispatch,
    label,
    names,
    nullable,
    pairs,
)
from shimgen.render.codemodel import (
    CopyGroup,
    CopyUnion,
    ShapeGroup,
    TagGroup,
    TryGroup,
    UnionGroup,
    ValueGroup,
    ptr,
)
from shimgen.schema.model import SchemaNode
from shimgen.treatments.base import Emitter, set_literal


def union_copier(gen: Emitter, node: SchemaNode, out: SchemaNode | None) -> tuple[str, CopyUnion]:
    """The docstring and body of the ``(v, p) -> copy`` function of union ``node`` onto ``out``."""
    d = dispatch(node)
    if not isinstance(d, Dispatch):  # the checker refused it; never reached from a clean plan
        raise AssertionError(d)
    target = {id(b): t for b, t, _ in pairs(node, out, pass_fit)}

    def copier(branch: SchemaNode) -> str:
        return str(gen.copier(branch, target.get(id(branch))))

    groups: list[UnionGroup] = []
    by_class: dict[str, list[SchemaNode]] = {}
    for b in d.scalars:
        for cls in PY_CLASSES[b.kind]:
            by_class.setdefault(cls, []).append(b)
    for cls, found in by_class.items():
        enums = [b.enum for b in found]
        allowed = (
            gen.const("enum", set_literal(v for e in enums for v in e or ()))
            if all(e is not None for e in enums)
            else ""
        )
        groups.append(ValueGroup(test=f"c is {cls}", enum=allowed))
    for branches, cls in ((d.arrays, "list"), (d.maps, "dict")):
        if len(branches) == 1:
            groups.append(CopyGroup(test=f"c is {cls}", fn=copier(branches[0])))
        elif branches:  # plain copies only (checked): whichever fits gives the same output
            fns = tuple(copier(b) for b in branches)
            groups.append(TryGroup(test=f"c is {cls}", fns=fns, names=names(branches)))
    objects = d.objects
    default = copier(d.fallback) if d.fallback is not None else ""
    if not objects and default:
        groups.append(CopyGroup(test="c is dict", fn=default))
    elif len(objects) == 1 and not default:
        groups.append(CopyGroup(test="c is dict", fn=copier(objects[0])))
    elif objects and d.tag is not None:
        groups.append(
            TagGroup(
                test="c is dict",
                prop=d.tag,
                ptr=ptr((d.tag,)),
                cases=tuple((value, copier(objects[i])) for value, i in d.tag_values),
                names=", ".join(repr(v) for v, _ in d.tag_values),
                default=default,
            )
        )
    elif objects:
        shapes = gen.const(
            "shapes",
            "("
            + "".join(
                f"({set_literal(s.required)}, {set_literal(s.foreign)}, "
                + "("
                + "".join(f"({k!r}, {set_literal(vals)}), " for k, vals in s.tags)
                + ")), "
                for s in d.shapes
            )
            + ")",
        )
        groups.append(
            ShapeGroup(
                test="c is dict",
                shapes=shapes,
                fns=tuple(copier(o) for o in objects),
                names=names(objects),
                default=default,
            )
        )
    shown = names(d.branches).replace("\\", "/").replace('"', "'")
    doc = f"Copy a union ({shown}): the matching branch's declared fields only."
    stmt = CopyUnion(
        nullable=nullable(node),
        groups=tuple(groups),
        names=", ".join(label(b) for b in d.branches),
    )
    return doc, stmt


def union_canary(
    node: SchemaNode, build: Callable[[SchemaNode], Any], unknown: dict[str, Any]
) -> Any:
    """A canary value for a union: a record of its first object branch that the
    generated code will match to that branch, carrying ``unknown`` (a field no
    branch declares, which must never come out); else a value of its first
    array or scalar branch; None if none can be built."""
    d = dispatch(node)
    if not isinstance(d, Dispatch):
        return None
    for i, branch in enumerate(d.objects):
        record = build(branch)
        if not isinstance(record, dict):
            continue
        if d.tag is not None:
            values = [v for v, j in d.tag_values if j == i]
            if not values:
                continue
            record[d.tag] = values[0]
        elif d.shapes:
            shape = d.shapes[i]
            tags_ok = all(k not in record or record[k] in ok for k, ok in shape.tags)
            if not (shape.required <= record.keys() and tags_ok):
                continue
        return {**record, **unknown}
    for branch in (*d.scalars, *d.arrays):
        value = build(branch)
        if value is not None:
            return value
    return None
