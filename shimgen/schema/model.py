"""The typed intermediate model of a schema: what every later stage works on.

JSON Schema and OpenAPI documents are loaded once (``shimgen.schema.loader``)
into a graph of :class:`SchemaNode`. ``$ref`` targets are shared nodes, so a
recursive schema is a cycle in this graph; walking code detects recursion by
node identity on the current walk stack, never by depth.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimgen.diagnostics import closest, some_of
from shimgen.schema.pathsyntax import ARRAY, format_name, format_path, parse_path

__all__ = ["ARRAY", "format_name", "format_path", "parse_path"]  # re-exported: one path syntax

Path_ = tuple[str, ...]
"""A field path as segments: ``cards[].number`` is ``("cards", "[]", "number")``."""


class Kind(enum.StrEnum):
    OBJECT = "object"
    ARRAY = "array"
    MAP = "map"  # an object with additionalProperties and no fixed properties
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    NULL = "null"
    ANY = "any"  # no type constraint at all (``{}`` or ``true``)
    UNION = "union"  # oneOf / anyOf / a type list with several non-null types


SCALARS = frozenset({Kind.STRING, Kind.INTEGER, Kind.NUMBER, Kind.BOOLEAN})


@dataclass(frozen=True)
class Discriminator:
    """An OpenAPI ``discriminator`` on a union: which property names the branch.

    ``values`` pairs each tag value with the index of its branch in
    ``variants``: the explicit ``mapping`` entries, then each branch's own
    schema name (OpenAPI's implicit mapping).
    """

    prop: str
    values: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Limits:
    """A value's validation bounds: what a copy of it promises, what an external field requires.

    The tightest of every ``allOf`` part (``shimgen.schema.loader``). Numeric bounds
    keep JSON Schema's two spellings apart only as far as they differ: OpenAPI 3.0's
    ``exclusiveMinimum: true`` beside ``minimum`` and 2019+'s numeric
    ``exclusiveMinimum`` both end up as ``minimum`` plus ``exclusive_minimum``.
    A bound of 0 on a length or an item count bounds nothing and is not kept.
    """

    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    minimum: int | float | None = None
    exclusive_minimum: bool = False
    maximum: int | float | None = None
    exclusive_maximum: bool = False
    multiple_of: int | float | None = None

    def __bool__(self) -> bool:
        return self != NO_LIMITS

    def meet(self, other: Limits) -> Limits:
        """Both at once (the parts of an ``allOf``): the tighter of each bound."""
        low, low_x = _tighter(
            (self.minimum, self.exclusive_minimum), (other.minimum, other.exclusive_minimum), 1
        )
        high, high_x = _tighter(
            (self.maximum, self.exclusive_maximum), (other.maximum, other.exclusive_maximum), -1
        )
        step = self.multiple_of
        if step is None or (other.multiple_of is not None and other.multiple_of % step == 0):
            step = other.multiple_of  # the coarser step says both; otherwise the first is kept
        return Limits(
            min_length=_pick(max, self.min_length, other.min_length),
            max_length=_pick(min, self.max_length, other.max_length),
            min_items=_pick(max, self.min_items, other.min_items),
            max_items=_pick(min, self.max_items, other.max_items),
            minimum=low,
            exclusive_minimum=low_x,
            maximum=high,
            exclusive_maximum=high_x,
            multiple_of=step,
        )


def _pick(how: Any, a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else how(a, b)


Bound = tuple[int | float | None, bool]


def _tighter(a: Bound, b: Bound, sign: int) -> Bound:
    """The tighter of two bounds (value, exclusive): ``sign`` 1 for lower bounds, -1 for upper."""
    if a[0] is None:
        return b
    if b[0] is None or a[0] * sign > b[0] * sign:
        return a
    if b[0] * sign > a[0] * sign:
        return b
    return a[0], a[1] or b[1]


NO_LIMITS = Limits()


@dataclass(eq=False)
class SchemaNode:
    """One schema, after ``$ref`` resolution, ``allOf`` merging and null folding.

    ``nullable`` absorbs OpenAPI 3.0 ``nullable: true``, ``type: [X, "null"]``
    and single-branch ``anyOf``/``oneOf`` wrappers with a ``null`` branch.
    """

    kind: Kind
    nullable: bool = False
    format: str | None = None
    pattern: str | None = None  # a string's `pattern` (ECMA 262 regex), as written
    limits: Limits = NO_LIMITS  # maxLength, minimum, maxItems, multipleOf, ...
    enum: tuple[Any, ...] | None = None
    classification: str | None = None  # x-classification: pii, secret, ...
    classification_at: str = ""  # "file#/json/pointer" of that x-classification, for messages
    description: str | None = None
    name: str | None = None  # definition name when reached through a $ref
    source: str = ""  # "file#/json/pointer", for messages
    read_only: bool = False
    write_only: bool = False
    properties: dict[str, SchemaNode] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    items: SchemaNode | None = None  # ARRAY
    values: SchemaNode | None = None  # MAP (additionalProperties schema)
    variants: tuple[SchemaNode, ...] = ()  # UNION
    discriminator: Discriminator | None = None  # UNION, from OpenAPI ``discriminator``
    # Set by the loader on recursion hubs only (see ``shimgen.schema.recursion``):
    # the one path at which walks open this node; anywhere else it is a
    # recursive leaf. None: opened wherever it appears (stack rule only).
    expand_at: Path_ | None = None

    @property
    def free_form(self) -> bool:
        """An object that declares no field and allows any (``{type: object}``,
        ``additionalProperties: true``; Stripe's extract stubs). Its content has
        no declared fields, so a copy of it is ``{}``: deny by default."""
        return self.kind is Kind.MAP and (self.values is None or self.values.kind is Kind.ANY)

    def describe(self, _stack: frozenset[int] = frozenset()) -> str:
        """A short human type name for messages: ``string (date)``, ``array of Card``.

        Schema graphs may be cyclic (``c = oneOf[string, array of c]``): a node
        met again inside its own description is shown by its name (or as
        ``recursive``) instead of being described forever.
        """
        if id(self) in _stack:
            return self.name or f"recursive {self.kind.value}"
        stack = _stack | {id(self)}
        if self.kind is Kind.ARRAY and self.items is not None:
            text = f"array of {self.items.describe(stack)}"
        elif self.kind is Kind.MAP and self.values is not None:
            text = f"map of {self.values.describe(stack)}"
        elif self.kind is Kind.UNION:
            text = "union of " + " | ".join(v.describe(stack) for v in self.variants)
        elif self.kind is Kind.OBJECT and self.name:
            text = self.name
        else:
            text = self.kind.value
            if self.format:
                text += f" ({self.format})"
        return text + (" or null" if self.nullable else "")


@dataclass(frozen=True)
class LoadedSchema:
    """A schema file loaded and rooted at the model the mapping names."""

    root: SchemaNode
    path: Path  # the file named in the mapping
    model: str  # the model name as written in the mapping
    sha256: str  # of the file's bytes
    files: tuple[Path, ...]  # every file read (the file itself and relative $ref targets)


@dataclass(frozen=True)
class Leaf:
    """A field that needs an entry in the mapping (or an ancestor with one)."""

    path: Path_
    node: SchemaNode
    recursive: bool  # the walk stopped here: the node is on the stack, or a hub opened elsewhere


def iter_leaves(
    root: SchemaNode, prefix: Path_ = (), stack: tuple[int, ...] = ()
) -> Iterator[Leaf]:
    """Every field path under ``root``, depth first in schema order.

    Objects are opened; arrays are opened when their items are objects (``a[].b``);
    everything else (scalars, arrays of scalars, maps, unions, empty objects) is a
    leaf. A node already on the walk stack is a recursive leaf and is not opened.
    So is a recursion hub (``expand_at`` set by the loader) met anywhere but at its
    one ``expand_at`` path: without that, schemas that recurse through a shared
    type in many places (FHIR ``Extension``) list hundreds of thousands of
    leaves. ``prefix`` is the path at which ``root`` is opened (absolute, from the
    loaded root), so walks started below the root agree with the full walk.
    """
    if prefix and held(root, prefix):
        path = prefix[:-1] if prefix[-1] == ARRAY else prefix
        yield Leaf(path, root, recursive=True)
        return
    stack = (*stack, id(root))
    for name, child in root.properties.items():
        path = (*prefix, name)
        yield from _walk(child, path, stack)


def _walk(node: SchemaNode, path: Path_, stack: tuple[int, ...]) -> Iterator[Leaf]:
    if id(node) in stack:
        yield Leaf(path, node, recursive=True)
        return
    if node.kind is Kind.OBJECT and node.properties:
        if held(node, path):
            yield Leaf(path, node, recursive=True)
        else:
            yield from iter_leaves(node, path, stack)
    elif (
        node.kind is Kind.ARRAY
        and node.items is not None
        and node.items.kind is Kind.OBJECT
        and node.items.properties
    ):
        inner = (*stack, id(node))
        if id(node.items) in inner or held(node.items, (*path, ARRAY)):
            yield Leaf(path, node, recursive=True)
        else:
            yield from iter_leaves(node.items, (*path, ARRAY), inner)
    else:
        yield Leaf(path, node, recursive=False)


def held(node: SchemaNode, opened_at: Path_) -> bool:
    """A recursion hub met anywhere but at the one path where it is opened."""
    return node.expand_at is not None and node.expand_at != opened_at


class PathError(Exception):
    """A mapping path that does not exist in, or cannot walk into, a schema."""

    def __init__(self, code: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def lookup(root: SchemaNode, path: Path_) -> SchemaNode:
    """The node at ``path``; raises :class:`PathError` naming the failing segment."""
    node = root
    walked: list[str] = []
    for seg in path:
        if seg == ARRAY:
            if node.kind is not Kind.ARRAY or node.items is None:
                raise PathError(
                    "unknown-path",
                    f"`{_here(walked)}` is {node.describe()}, not an array",
                    f"remove `[]` after `{_here(walked)}`",
                )
            node = node.items
        elif node.kind is Kind.OBJECT:
            if seg not in node.properties:
                raise PathError(
                    "unknown-path",
                    f"`{format_path((*walked, seg))}` does not exist",
                    _unknown_hint(node, _here(walked), tuple(walked), path[len(walked) :]),
                )
            node = node.properties[seg]
        elif node.kind is Kind.UNION:
            raise PathError(
                "union-path",
                f"`{_here(walked)}` is a oneOf/anyOf union; a mapping cannot walk into it",
                f"map `{_here(walked)}` as a whole (pass copies it branch by branch; drop, null, redact)",
            )
        elif node.kind is Kind.ARRAY:
            raise PathError(
                "unknown-path",
                f"`{_here(walked)}` is an array; step into its items with `[]`",
                f"write `{_here(walked)}[].{format_name(seg)}`",
            )
        else:
            raise PathError(
                "unknown-path",
                f"`{_here(walked)}` is {node.describe()} and has no field `{format_name(seg)}`",
                f"map `{_here(walked)}` itself",
            )
        walked.append(seg)
    return node


def _here(walked: list[str]) -> str:
    return format_path(tuple(walked)) or "the root"


def _unknown_hint(node: SchemaNode, here: str, walked: Path_, rest: Path_) -> str:
    """Name the fields of ``node``; when ``a.b`` was split at a dot the name holds, say so."""
    for end in range(len(rest), 1, -1):
        if ARRAY in rest[:end]:
            continue
        joined = ".".join(rest[:end])
        if joined in node.properties:
            fixed = format_path((*walked, joined, *rest[end:]))
            yaml_key = "; as a YAML key, in single quotes" if fixed.startswith('"') else ""
            return f"the field `{joined}` has a dot in its name; quote it: `{fixed}`{yaml_key}"
    known = some_of([format_name(k) for k in sorted(node.properties)], _SHOWN_FIELDS)
    close = closest(rest[0], list(node.properties)) if rest and rest[0] != ARRAY else None
    guess = f"did you mean `{format_path((*walked, close, *rest[1:]))}`? " if close else ""
    return f"{guess}fields of {here}: {known}" if known else f"{here} has no fields"


_SHOWN_FIELDS = 8
"""Field names a hint lists before it says `and N more`."""
