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


@dataclass(frozen=True, kw_only=True)
class Reads(Node):
    """A statement that reads the input field ``src[key]``, at JSON pointer ``ptr``."""

    src: str
    key: str
    ptr: str


@dataclass(frozen=True, kw_only=True)
class Writes(Node):
    """A statement that writes the output field ``target[tkey]``."""

    target: str
    tkey: str


# -- outbound: internal record -> external record ------------------------------------


@dataclass(frozen=True, kw_only=True)
class NewObject(Node):
    """``var`` starts as an empty output object."""

    kind: ClassVar[str] = "new_object"
    var: str


@dataclass(frozen=True, kw_only=True)
class OutGuard(Node):
    """The record (``r``) must be an object."""

    kind: ClassVar[str] = "out_guard"


@dataclass(frozen=True, kw_only=True)
class ReadObject(Reads):
    """``var`` = the nested input object (empty when absent)."""

    kind: ClassVar[str] = "read_object"
    var: str


@dataclass(frozen=True, kw_only=True)
class Leaf(Reads, Writes):
    """One treated field: the treatment's value of the checked input, written out."""

    kind: ClassVar[str] = "leaf"
    comment: str
    check: str  # a condition true for unacceptable input; "" when any value is accepted
    expr: str
    null_out: bool  # an explicit null input becomes an explicit null output
    risky: bool  # the treatment can raise ValueError/TypeError
    keyerror: bool  # the treatment looks the value up (KeyError: not mapped)


@dataclass(frozen=True, kw_only=True)
class Array(Reads, Writes):
    """An array of records: each item goes through the item function ``fn``."""

    kind: ClassVar[str] = "array"
    fn: str


@dataclass(frozen=True, kw_only=True)
class Attach(Node):
    """A nested output object ``var`` goes into ``parent[key]`` when it is not empty."""

    kind: ClassVar[str] = "attach"
    parent: str
    key: str
    var: str


@dataclass(frozen=True, kw_only=True)
class Const(Writes):
    """A derived field with a constant value (``value`` is its Python literal)."""

    kind: ClassVar[str] = "const"
    comment: str
    value: str


@dataclass(frozen=True, kw_only=True)
class Count(Reads, Writes):
    """A derived field: the number of items of the input array."""

    kind: ClassVar[str] = "count"
    comment: str


@dataclass(frozen=True)
class TemplateSource:
    """One input of a derived template: ``var`` = ``src[key]``, a plain value."""

    var: str
    src: str
    key: str
    ptr: str


@dataclass(frozen=True, kw_only=True)
class Template(Writes):
    """A derived field formatted from other fields (``template`` is an f-string literal)."""

    kind: ClassVar[str] = "template"
    comment: str
    template: str
    sources: tuple[TemplateSource, ...]


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class CopyObject(Node):
    """Copy an object's declared fields only."""

    kind: ClassVar[str] = "copy_object"
    fields: tuple[CopyField, ...]


@dataclass(frozen=True, kw_only=True)
class CopyArray(Node):
    """Copy each item; ``copier`` is "" for items copied as they are (no pointer needed)."""

    kind: ClassVar[str] = "copy_array"
    check: str
    copier: str


@dataclass(frozen=True, kw_only=True)
class CopyMap(CopyArray):
    """Copy each value of a map; ``check`` and ``copier`` as for :class:`CopyArray`."""

    kind: ClassVar[str] = "copy_map"


@dataclass(frozen=True, kw_only=True)
class UnionGroup(Node):
    """The ``if`` block of a union copy for one Python class of value (``test``)."""

    test: str


@dataclass(frozen=True, kw_only=True)
class ValueGroup(UnionGroup):
    """Scalar branches: the value itself, within ``enum`` (a constant's name; "" for any)."""

    kind: ClassVar[str] = "value"
    enum: str


@dataclass(frozen=True, kw_only=True)
class CopyGroup(UnionGroup):
    """One branch of this class: copied by ``fn``."""

    kind: ClassVar[str] = "copy"
    fn: str


@dataclass(frozen=True, kw_only=True)
class TryGroup(UnionGroup):
    """Several plain-copy branches: the first copier that accepts the value."""

    kind: ClassVar[str] = "try"
    fns: tuple[str, ...]
    names: str


@dataclass(frozen=True, kw_only=True)
class TagGroup(UnionGroup):
    """Object branches told apart by the value of property ``prop``."""

    kind: ClassVar[str] = "tag"
    prop: str
    ptr: str
    cases: tuple[tuple[Any, str], ...]
    names: str
    default: str  # the fallback branch's copier; "" for none


@dataclass(frozen=True, kw_only=True)
class ShapeGroup(UnionGroup):
    """Object branches told apart by their shapes (``shapes``: a constant's name)."""

    kind: ClassVar[str] = "shape"
    shapes: str
    fns: tuple[str, ...]
    names: str
    default: str


@dataclass(frozen=True, kw_only=True)
class CopyUnion(Node):
    """Copy a union value by the branch it matches (:mod:`shimgen.render.unions`)."""

    kind: ClassVar[str] = "copy_union"
    nullable: bool
    groups: tuple[UnionGroup, ...]
    names: str


# -- inbound: external payload -> internal record --------------------------------------


@dataclass(frozen=True, kw_only=True)
class InGuard(Node):
    """The payload (``d``) must be an object; otherwise one problem and an empty record."""

    kind: ClassVar[str] = "in_guard"


@dataclass(frozen=True, kw_only=True)
class InObject(Reads):
    """``var`` = the nested payload object."""

    kind: ClassVar[str] = "in_object"
    var: str


@dataclass(frozen=True, kw_only=True)
class InDeny(Node):
    """Mass-assignment guard: a key of ``var`` outside ``allowed`` (a constant) is a problem."""

    kind: ClassVar[str] = "in_deny"
    var: str
    allowed: str
    ptr: str


@dataclass(frozen=True, kw_only=True)
class InLeaf(Reads):
    """One inbound field: its treatment reversed, stored at internal path ``put``."""

    kind: ClassVar[str] = "in_leaf"
    comment: str
    put: Path_  # relative to the function's record ``o``
    expr: str
    nullable: bool


@dataclass(frozen=True, kw_only=True)
class InArray(Reads):
    """An inbound array: each item through the item function ``fn``, stored at ``put``."""

    kind: ClassVar[str] = "in_array"
    put: Path_
    fn: str


@dataclass(frozen=True, kw_only=True)
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
