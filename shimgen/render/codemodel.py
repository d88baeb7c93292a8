"""The typed code model of a generated ``translate.py``: statements, functions, the module.

:mod:`shimgen.render.codegen` decides what the statements are; the templates
only lay them out. Each statement kind is one frozen dataclass here and one
Jinja2 macro of the same name in ``templates/package/macros/statements.j2``
(a union copy's groups: ``macros/union_groups.j2``), so a statement carries
every decision as a typed field and no template inspects generated text.
:func:`macro_for` picks the macro, and fails on a kind no macro renders
instead of rendering nothing.

Fields holding Python source (``check``, ``expr``) are expressions a
treatment wrote (:class:`shimgen.treatments.base.TreatmentDef`); the
templates place them, never look inside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import jinja2.runtime

from shimgen.schema.model import Path_

STATEMENT_MACROS = "package/macros/statements.j2"
UNION_GROUP_MACROS = "package/macros/union_groups.j2"


class UnknownStatement(LookupError):
    """A statement kind no template macro renders (a generator bug, never a user error)."""


@dataclass(frozen=True)
class Node:
    """A piece of the code model that one template macro renders; ``kind`` names the macro."""

    kind: ClassVar[str] = ""


def macro_for(macros: Any, node: Node) -> Any:
    """The macro of ``macros`` (an imported template module) that renders ``node``.

    Called from the templates (a Jinja2 global): ``{{ macro_for(m, s)(s, base) }}``.
    A kind without a macro raises :class:`UnknownStatement` naming it, at render time.
    """
    macro = getattr(macros, node.kind, None) if node.kind else None
    if not isinstance(macro, jinja2.runtime.Macro):
        raise UnknownStatement(
            f"no template macro renders statement kind {node.kind!r} ({type(node).__name__}):"
            f" add `{{% macro {node.kind or '<kind>'}(...) %}}` to {macros.__name__}"
        )
    return macro


def ptr(path: Path_) -> str:
    """The JSON pointer (RFC 6901) of a relative path, as generated code spells it."""
    return "".join("/" + k.replace("~", "~0").replace("/", "~1") for k in path)


# -- outbound: internal record -> external record ------------------------------------


@dataclass(frozen=True)
class NewObject(Node):
    """``var`` starts as an empty output object."""

    kind: ClassVar[str] = "new_object"
    var: str


@dataclass(frozen=True)
class OutGuard(Node):
    """The record (``r``) must be an object."""

    kind: ClassVar[str] = "out_guard"


@dataclass(frozen=True)
class ReadObject(Node):
    """``var`` = the nested input object ``src[key]`` (empty when absent)."""

    kind: ClassVar[str] = "read_object"
    var: str
    src: str
    key: str
    ptr: str


@dataclass(frozen=True)
class Leaf(Node):
    """One treated field: check ``src[key]``, store the treatment's value at ``target[tkey]``."""

    kind: ClassVar[str] = "leaf"
    comment: str
    src: str
    key: str
    ptr: str
    target: str
    tkey: str
    check: str  # a condition true for unacceptable input; "" when any value is accepted
    expr: str
    null_out: bool  # an explicit null input becomes an explicit null output
    risky: bool  # the treatment can raise ValueError/TypeError
    keyerror: bool  # the treatment looks the value up (KeyError: not mapped)


@dataclass(frozen=True)
class Array(Node):
    """An array of records: each item goes through the item function ``fn``."""

    kind: ClassVar[str] = "array"
    src: str
    key: str
    ptr: str
    target: str
    tkey: str
    fn: str


@dataclass(frozen=True)
class Attach(Node):
    """A nested output object ``var`` goes into ``parent[key]`` when it is not empty."""

    kind: ClassVar[str] = "attach"
    parent: str
    key: str
    var: str


@dataclass(frozen=True)
class Const(Node):
    """A derived field with a constant value (``value`` is its Python literal)."""

    kind: ClassVar[str] = "const"
    comment: str
    target: str
    tkey: str
    value: str


@dataclass(frozen=True)
class Count(Node):
    """A derived field: the number of items of the array at ``src[key]``."""

    kind: ClassVar[str] = "count"
    comment: str
    target: str
    tkey: str
    src: str
    key: str
    ptr: str


@dataclass(frozen=True)
class TemplateSource:
    """One input of a derived template: ``var`` = ``src[key]``, a plain value."""

    var: str
    src: str
    key: str
    ptr: str


@dataclass(frozen=True)
class Template(Node):
    """A derived field formatted from other fields (``template`` is an f-string literal)."""

    kind: ClassVar[str] = "template"
    comment: str
    target: str
    tkey: str
    template: str
    sources: tuple[TemplateSource, ...]


@dataclass(frozen=True)
class ReturnValue(Node):
    """A scalar array item (``v``): checked, treated and returned."""

    kind: ClassVar[str] = "return_value"
    check: str
    expr: str


# -- copies of whole objects, arrays, maps and unions ----------------------------------


@dataclass(frozen=True)
class CopyField:
    """A declared field of a copied object; ``copier`` is "" for a value copied as it is."""

    key: str
    ptr: str
    check: str
    copier: str


@dataclass(frozen=True)
class CopyObject(Node):
    """Copy an object's declared fields only."""

    kind: ClassVar[str] = "copy_object"
    fields: tuple[CopyField, ...]


@dataclass(frozen=True)
class CopyArray(Node):
    """Copy each item; ``copier`` is "" for items copied as they are (no pointer needed)."""

    kind: ClassVar[str] = "copy_array"
    check: str
    copier: str


@dataclass(frozen=True)
class CopyMap(Node):
    """Copy each value of a map; ``copier`` as for :class:`CopyArray`."""

    kind: ClassVar[str] = "copy_map"
    check: str
    copier: str


@dataclass(frozen=True)
class UnionGroup(Node):
    """The ``if`` block of a union copy for one Python class of value (``test``)."""

    test: str


@dataclass(frozen=True)
class ValueGroup(UnionGroup):
    """Scalar branches: the value itself, within ``enum`` (a constant's name; "" for any)."""

    kind: ClassVar[str] = "value"
    enum: str


@dataclass(frozen=True)
class CopyGroup(UnionGroup):
    """One branch of this class: copied by ``fn``."""

    kind: ClassVar[str] = "copy"
    fn: str


@dataclass(frozen=True)
class TryGroup(UnionGroup):
    """Several plain-copy branches: the first copier that accepts the value."""

    kind: ClassVar[str] = "try"
    fns: tuple[str, ...]
    names: str


@dataclass(frozen=True)
class TagGroup(UnionGroup):
    """Object branches told apart by the value of property ``prop``."""

    kind: ClassVar[str] = "tag"
    prop: str
    ptr: str
    cases: tuple[tuple[Any, str], ...]
    names: str
    default: str  # the fallback branch's copier; "" for none


@dataclass(frozen=True)
class ShapeGroup(UnionGroup):
    """Object branches told apart by their shapes (``shapes``: a constant's name)."""

    kind: ClassVar[str] = "shape"
    shapes: str
    fns: tuple[str, ...]
    names: str
    default: str


@dataclass(frozen=True)
class CopyUnion(Node):
    """Copy a union value by the branch it matches (:mod:`shimgen.render.unions`)."""

    kind: ClassVar[str] = "copy_union"
    nullable: bool
    groups: tuple[UnionGroup, ...]
    names: str


# -- inbound: external payload -> internal record --------------------------------------


@dataclass(frozen=True)
class InGuard(Node):
    """The payload (``d``) must be an object; otherwise one problem and an empty record."""

    kind: ClassVar[str] = "in_guard"


@dataclass(frozen=True)
class InObject(Node):
    """``var`` = the nested payload object ``src[key]``."""

    kind: ClassVar[str] = "in_object"
    var: str
    src: str
    key: str
    ptr: str


@dataclass(frozen=True)
class InDeny(Node):
    """Mass-assignment guard: a key of ``var`` outside ``allowed`` (a constant) is a problem."""

    kind: ClassVar[str] = "in_deny"
    var: str
    allowed: str
    ptr: str


@dataclass(frozen=True)
class InLeaf(Node):
    """One inbound field: reverse its treatment and store it at internal path ``put``."""

    kind: ClassVar[str] = "in_leaf"
    comment: str
    src: str
    key: str
    ptr: str
    put: Path_  # relative to the function's record ``o``
    expr: str
    nullable: bool


@dataclass(frozen=True)
class InArray(Node):
    """An inbound array: each item through the item function ``fn``, stored at ``put``."""

    kind: ClassVar[str] = "in_array"
    src: str
    key: str
    ptr: str
    put: Path_
    fn: str


@dataclass(frozen=True)
class InValue(Node):
    """A scalar array item (``v``) reversed and returned."""

    kind: ClassVar[str] = "in_value"
    expr: str


# -- functions and the module ----------------------------------------------------------


@dataclass
class Function:
    """One generated function; built statement by statement, so not frozen."""

    name: str
    doc: str
    params: str
    body: list[Node] = field(default_factory=list)
    returns: str = "o"
    keys: bool = False  # needs the keyset
    base: str = "p"  # "item": an array item function, its pointer is p + "/" + i


@dataclass(frozen=True)
class ViewFns:
    view: str | None
    outbound: str
    inbound: str


@dataclass
class Module:
    constants: list[tuple[str, str]] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    views: list[ViewFns] = field(default_factory=list)
