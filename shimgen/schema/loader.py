"""Load a JSON Schema or OpenAPI document into the :mod:`shimgen.schema.model` graph.

Everything after loading works on :class:`SchemaNode` only, so this module is
where the many spellings of the same idea in real schemas are made one:

* ``$ref`` targets become shared nodes (memoised by file and JSON pointer), so
  a recursive schema is a cycle and walkers detect it by node identity;
* ``allOf`` is merged into one node, with ``$ref`` siblings treated like an
  ``allOf`` of the target and the siblings (what 2019-09 and OpenAPI 3.1 say,
  and what authors of older drafts mean when they write them);
* the five ways of saying "or null" (OpenAPI 3.0 ``nullable``, ``type: [X,
  "null"]``, a ``null`` branch of ``anyOf``/``oneOf``, ``enum`` with ``null``,
  ``const: null``) all become ``nullable``;
* single-branch ``anyOf``/``oneOf`` wrappers (Stripe's ``anyOf: [{$ref: X}]``
  with ``nullable: true``) are unwrapped, so a mapping can walk into them.

The module never raises anything but :class:`SchemaError`, which carries a
file and, where it can be found, the line of the offending ``$ref``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shimgen.schema.model import Kind, LoadedSchema, SchemaNode
from shimgen.schema.refs import DocumentStore, Located, SchemaError, last_segment

__all__ = ["SchemaError", "load_schema"]

_TYPE_KINDS: dict[str, Kind] = {
    "object": Kind.OBJECT,
    "array": Kind.ARRAY,
    "string": Kind.STRING,
    "integer": Kind.INTEGER,
    "number": Kind.NUMBER,
    "boolean": Kind.BOOLEAN,
    "null": Kind.NULL,
}

# Keywords that change the node we build. A ``$ref`` whose siblings are all
# outside this set (description, title, examples, validators...) is a plain
# reference and yields the target node itself, keeping node identity for
# recursion detection.
_SHAPE_KEYS = frozenset(
    {
        "type",
        "properties",
        "items",
        "prefixItems",
        "additionalProperties",
        "patternProperties",
        "allOf",
        "anyOf",
        "oneOf",
        "enum",
        "const",
        "format",
    }
)
_FLAG_KEYS = ("nullable", "readOnly", "writeOnly")
_DEFINITION_PARENTS = (("definitions",), ("$defs",), ("components", "schemas"))


def load_schema(path: Path, model: str | None) -> LoadedSchema:
    """Load ``path`` and root the graph at ``model``.

    ``model`` is None or ``""`` for the document root (a JSON Schema), else a
    name looked up in ``components.schemas``, ``$defs``, ``definitions`` and
    finally the root's ``title``. Raises :class:`SchemaError`.
    """
    store = DocumentStore()
    doc = store.open(path)
    start = _select_model(Located(doc, "", doc.data), model)
    builder = _Builder(store)
    root = builder.node((start,))
    if root.name is None:
        title = start.value.get("title") if isinstance(start.value, dict) else None
        root.name = model or (title if isinstance(title, str) else None)
    return LoadedSchema(
        root=root,
        path=path,
        model=model or "",
        sha256=hashlib.sha256(doc.raw).hexdigest(),
        files=store.files,
    )


def _select_model(top: Located, model: str | None) -> Located:
    data = top.value
    if not model:
        if isinstance(data, dict) and "openapi" in data and not _is_schema(data):
            raise SchemaError(
                "an OpenAPI document has no root schema; name a model",
                top.doc.path,
                hint=_available(top),
            )
        return top
    if isinstance(data, dict):
        for parents in _DEFINITION_PARENTS:
            table = _dig(data, parents)
            if isinstance(table, dict) and model in table:
                return top.child(*parents, model)
        if data.get("title") == model:
            return top
    raise SchemaError(f"model '{model}' not found in {top.doc.path}", top.doc.path, hint=_available(top))


def _is_schema(data: dict[str, Any]) -> bool:
    return any(k in data for k in ("type", "properties", "$ref", "allOf", "anyOf", "oneOf"))


def _dig(data: Any, keys: Iterable[str]) -> Any:
    for k in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(k)
    return data


def _available(top: Located) -> str:
    names: list[str] = []
    data = top.value
    if isinstance(data, dict):
        for parents in _DEFINITION_PARENTS:
            table = _dig(data, parents)
            if isinstance(table, dict):
                names.extend(str(k) for k in table if str(k) not in names)
        if isinstance(data.get("title"), str) and _is_schema(data):
            names.append(data["title"])
    if not names:
        return "this document defines no named schemas; leave model empty for the root"
    more = f", ... ({len(names) - 20} more)" if len(names) > 20 else ""
    return "available models: " + ", ".join(names[:20]) + more


def _definition_name(pointer: str) -> str | None:
    """``/definitions/X``, ``/$defs/X``, ``/components/schemas/X`` -> ``X``."""
    parts = pointer.split("/")[1:]
    for parents in _DEFINITION_PARENTS:
        if len(parts) == len(parents) + 1 and tuple(parts[:-1]) == parents:
            return last_segment(pointer)
    return None


def _is_plain_ref(value: Any) -> bool:
    """A ``$ref`` whose siblings do not change the model: it *is* its target."""
    if not isinstance(value, dict) or "$ref" not in value:
        return False
    if any(k in value for k in _SHAPE_KEYS) or isinstance(value.get("x-classification"), str):
        return False
    return not any(value.get(flag) is True for flag in _FLAG_KEYS)


class _Parts:
    """The conjunction a node stands for, flattened: the node's own schema
    objects, then (depth first, in order) every ``$ref`` target, ``allOf``
    branch and single real ``anyOf``/``oneOf`` branch they pull in.

    Each schema location is taken once, which is also what stops ``allOf``
    cycles (``A: allOf [B]``, ``B: allOf [A]``).
    """

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.items: list[tuple[Located, bool]] = []  # (schema, is one of the node's own)
        self.refs: list[Located] = []  # every $ref target followed, in order
        self._seen: set[tuple[Path, str]] = set()

    def add(self, loc: Located, own: bool) -> None:
        if loc.key in self._seen:
            return
        self._seen.add(loc.key)
        self.items.append((loc, own))
        value = loc.value
        if not isinstance(value, dict):
            return
        if "$ref" in value:
            target = self.store.resolve(loc)
            self.refs.append(target)
            self.add(target, False)
        branches = value.get("allOf")
        if isinstance(branches, list):
            for i in range(len(branches)):
                self.add(loc.child("allOf", i), False)

    def dicts(self) -> list[tuple[dict[str, Any], Located, bool]]:
        return [(loc.value, loc, own) for loc, own in self.items if isinstance(loc.value, dict)]


def _branch_role(value: Any) -> str:
    """``null`` (says only "or null"), ``noise`` (a validator like ``{required: [x]}``
    that adds no shape) or ``real``."""
    if not isinstance(value, dict):
        return "noise"
    t = value.get("type")
    if t == "null" or t == ["null"]:
        return "null"
    if "const" in value and value["const"] is None:
        return "null"
    if value.get("enum") == [None]:
        return "null"
    if "$ref" in value or any(k in value for k in _SHAPE_KEYS):
        return "real"
    return "null" if value.get("nullable") is True else "noise"


class _Builder:
    """Turns located JSON into nodes, memoised by (file, pointer) of every
    location (a tuple of them for merged locations), so a ``$ref`` target is
    built once and shared, and a recursive ref finds its node already in the
    memo. The node is registered *before* it is filled for exactly that reason.
    """

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.memo: dict[tuple[tuple[Path, str], ...], SchemaNode] = {}

    def node(self, locs: tuple[Located, ...]) -> SchemaNode:
        key = tuple(loc.key for loc in locs)
        found = self.memo.get(key)
        if found is not None:
            return found
        if len(locs) == 1 and _is_plain_ref(locs[0].value):
            return self._follow(locs[0])
        node = SchemaNode(Kind.ANY, source=locs[0].source, name=_definition_name(locs[0].pointer))
        self.memo[key] = node
        self._fill(node, locs)
        return node

    def _follow(self, start: Located) -> SchemaNode:
        """A chain of plain refs ends at one node, shared by every link of the chain."""
        chain = [start]
        loc = start
        while _is_plain_ref(loc.value):
            loc = self.store.resolve(loc)
            if loc.key in {c.key for c in chain}:
                raise SchemaError(
                    f"$ref cycle that never reaches a schema: {' -> '.join(c.source for c in chain)}",
                    start.doc.path,
                    hint="one of these refs must point at an actual schema",
                )
            chain.append(loc)
        node = self.node((loc,))
        if node.name is None:
            node.name = last_segment(loc.pointer) or _doc_title(loc)
        for link in chain:
            self.memo[(link.key,)] = node
        return node

    def _fill(self, node: SchemaNode, locs: tuple[Located, ...]) -> None:
        parts = _Parts(self.store)
        for loc in locs:
            parts.add(loc, own=len(locs) == 1)
        # anyOf/oneOf: null branches fold into nullable, a single real branch is
        # merged like allOf, several real branches make a union. Branches added
        # by the merge may carry their own anyOf, hence the growing loop.
        force_null = False
        union: list[Located] | None = None
        i = 0
        while i < len(parts.items):
            loc, _own = parts.items[i]
            i += 1
            if not isinstance(loc.value, dict):
                continue
            for keyword in ("anyOf", "oneOf"):
                branches = loc.value.get(keyword)
                if not isinstance(branches, list):
                    continue
                real: list[Located] = []
                for j, branch in enumerate(branches):
                    role = _branch_role(branch)
                    if role == "null":
                        force_null = True
                    elif role == "real":
                        real.append(loc.child(keyword, j))
                if len(real) == 1:
                    parts.add(real[0], False)
                elif len(real) > 1 and union is None:
                    union = real
        dicts = parts.dicts()
        self._annotate(node, dicts, force_null)
        own_fields = any("properties" in d for d, _, own in dicts if own)
        if len(parts.refs) == 1 and node.name is None and not own_fields:
            # One referenced type plus decorations (nullable, readOnly, a
            # description): still that type, so it keeps the type's name.
            node.name = last_segment(parts.refs[0].pointer) or _doc_title(parts.refs[0])
        has_properties = any(isinstance(d.get("properties"), dict) for d, _, _ in dicts)
        if union is not None and not has_properties:
            # Several real branches, and no fixed fields beside them to keep.
            node.kind = Kind.UNION
            node.variants = tuple(self.node((b,)) for b in union)
            return
        kinds = _kinds(dicts)
        if kinds is None:
            node.kind = _infer_kind(dicts)
        elif not kinds:
            node.kind = Kind.NULL
            node.nullable = True
        elif len(kinds) == 1:
            node.kind = kinds[0]
        else:
            node.kind = Kind.UNION
            variants = []
            for kind in kinds:
                variant = SchemaNode(kind, source=node.source, format=node.format)
                self._shape(variant, dicts)
                variants.append(variant)
            node.variants = tuple(variants)
            node.format = None
            return
        self._shape(node, dicts)

    def _annotate(
        self, node: SchemaNode, dicts: list[tuple[dict[str, Any], Located, bool]], force_null: bool
    ) -> None:
        """Annotations: the first one found wins, the node's own schema first."""
        typed_allow_null: list[bool] = []
        own_null = force_null
        for d, _loc, own in dicts:
            says_null = d.get("nullable") is True
            t = d.get("type")
            if t is not None:
                in_type = t == "null" or (isinstance(t, list) and "null" in t)
                typed_allow_null.append(in_type or says_null)
                says_null = says_null or in_type
            if own and says_null:
                # The field's own site wins over what it references: OpenAPI 3.0's
                # `allOf: [{$ref: X}], nullable: true` idiom means "X or null".
                own_null = True
            if node.description is None and isinstance(d.get("description"), str):
                node.description = d["description"]
            if node.format is None and isinstance(d.get("format"), str):
                node.format = d["format"]
            classification = d.get("x-classification")
            if node.classification is None and isinstance(classification, str):
                node.classification = classification
            node.read_only = node.read_only or d.get("readOnly") is True
            node.write_only = node.write_only or d.get("writeOnly") is True
            if node.enum is None:
                values: list[Any] | None = None
                if "const" in d:
                    values = [d["const"]]
                elif isinstance(d.get("enum"), list):
                    values = d["enum"]
                if values is not None:
                    if None in values:
                        own_null = True
                    node.enum = tuple(v for v in values if v is not None)
        # allOf: nullable only if every part that constrains the type allows null.
        node.nullable = own_null or (bool(typed_allow_null) and all(typed_allow_null))

    def _shape(self, node: SchemaNode, dicts: list[tuple[dict[str, Any], Located, bool]]) -> None:
        """Fill the structure that belongs to ``node.kind`` (fields, items, values)."""
        if node.kind is Kind.OBJECT:
            self._object(node, dicts)
        elif node.kind is Kind.ARRAY:
            self._array(node, dicts)

    def _object(self, node: SchemaNode, dicts: list[tuple[dict[str, Any], Located, bool]]) -> None:
        fields: dict[str, list[Located]] = {}
        required: set[str] = set()
        extra: Located | None = None
        closed = False
        patterns: list[Located] = []
        for d, loc, _own in dicts:
            props = d.get("properties")
            if isinstance(props, dict):
                for name in props:
                    fields.setdefault(str(name), []).append(loc.child("properties", name))
            req = d.get("required")
            if isinstance(req, list):
                required.update(r for r in req if isinstance(r, str))
            addl = d.get("additionalProperties")
            if addl is False:
                closed = True
            elif isinstance(addl, dict) and extra is None:
                extra = loc.child("additionalProperties")
            pats = d.get("patternProperties")
            if isinstance(pats, dict):
                patterns.extend(loc.child("patternProperties", p) for p in pats)
        if fields:
            # Extra keys (additionalProperties, patternProperties) beside fixed
            # fields are never emitted by a shim, so they are not fields here.
            node.properties = {name: self.node(tuple(ls)) for name, ls in fields.items()}
            node.required = frozenset(required & node.properties.keys())
            return
        if extra is not None:
            node.kind = Kind.MAP
            node.values = self.node((extra,))
        elif patterns:
            node.kind = Kind.MAP
            values = [self.node((p,)) for p in patterns]
            node.values = (
                values[0]
                if len(values) == 1
                else SchemaNode(Kind.UNION, source=node.source, variants=tuple(values))
            )
        elif not closed:
            node.kind = Kind.MAP
            node.values = SchemaNode(Kind.ANY, source=node.source)
        # additionalProperties: false and nothing else: an empty OBJECT.

    def _array(self, node: SchemaNode, dicts: list[tuple[dict[str, Any], Located, bool]]) -> None:
        single: list[Located] = []
        tuple_items: list[Located] = []
        for d, loc, _own in dicts:
            items = d.get("items")
            prefix = d.get("prefixItems")
            if isinstance(prefix, list):
                tuple_items.extend(loc.child("prefixItems", i) for i in range(len(prefix)))
                if isinstance(items, dict) and items:
                    tuple_items.append(loc.child("items"))
            elif isinstance(items, list):
                tuple_items.extend(loc.child("items", i) for i in range(len(items)))
                extra = d.get("additionalItems")
                if isinstance(extra, dict) and extra:
                    tuple_items.append(loc.child("additionalItems"))
            elif isinstance(items, dict | bool):
                single.append(loc.child("items"))
        if single:
            node.items = self.node(tuple(single))
        elif len(tuple_items) == 1:
            node.items = self.node((tuple_items[0],))
        elif tuple_items:
            # A tuple is several shapes at once; a mapping treats its items as one
            # field, so a union of the positions is the honest description.
            variants = tuple(self.node((t,)) for t in tuple_items)
            node.items = SchemaNode(Kind.UNION, source=node.source, variants=variants)
        else:
            node.items = SchemaNode(Kind.ANY, source=node.source)


def _doc_title(loc: Located) -> str | None:
    data = loc.doc.data
    title = data.get("title") if isinstance(data, dict) and not loc.pointer else None
    return title if isinstance(title, str) else (loc.doc.path.stem.split(".")[0] or None)


def _kinds(dicts: list[tuple[dict[str, Any], Located, bool]]) -> list[Kind] | None:
    """The non-null kinds every part allows, in the order of the first part's
    ``type``; None if no part says ``type``; ``[]`` if only null is allowed."""
    result: list[str] | None = None
    for d, _loc, _own in dicts:
        t = d.get("type")
        if isinstance(t, str):
            names = [t]
        elif isinstance(t, list):
            names = [x for x in t if isinstance(x, str)]
        else:
            continue
        names = [n for n in names if n != "null" and n in _TYPE_KINDS]
        if result is None:
            result = names
            continue
        merged = [n for n in result if n in names]
        # number and integer intersect in integer
        if "integer" in result and "number" in names or "number" in result and "integer" in names:
            merged = [*merged, "integer"] if "integer" not in merged else merged
        # An impossible intersection is an authoring slip; keep the first
        # part's type rather than make the field unusable.
        result = merged or result
    if result is None:
        return None
    return [_TYPE_KINDS[n] for n in result]


def _infer_kind(dicts: list[tuple[dict[str, Any], Located, bool]]) -> Kind:
    """The kind of a schema without ``type``, from the keywords it uses."""
    keys = set().union(*(d.keys() for d, _, _ in dicts)) if dicts else set()
    if keys & {"properties", "additionalProperties", "patternProperties"}:
        return Kind.OBJECT
    if keys & {"items", "prefixItems"}:
        return Kind.ARRAY
    for d, _, _ in dicts:
        values: list[Any] | None = (
            [d["const"]] if "const" in d else d["enum"] if isinstance(d.get("enum"), list) else None
        )
        if values is not None:
            return _enum_kind([v for v in values if v is not None])
    if any(isinstance(d.get("format"), str) for d, _, _ in dicts):
        return Kind.STRING
    return Kind.ANY


def _enum_kind(values: list[Any]) -> Kind:
    if not values:
        return Kind.NULL
    if all(isinstance(v, str) for v in values):
        return Kind.STRING
    if all(isinstance(v, bool) for v in values):
        return Kind.BOOLEAN
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return Kind.INTEGER
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return Kind.NUMBER
    return Kind.ANY
