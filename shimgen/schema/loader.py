"""Load a JSON Schema or OpenAPI document into the :mod:`shimgen.schema.model` graph.

Everything after loading works on :class:`SchemaNode` only, so this module is
where the many spellings of the same idea in real schemas are made one:

* ``$ref`` targets become shared nodes (memoised by file and JSON pointer), so
  a recursive schema is a cycle and walkers detect it by node identity;
* ``allOf`` is merged into one node, and a ``$ref`` with siblings that matter
  (``nullable``, ``readOnly``, ``x-classification``, a ``type``...) is merged
  with them the same way: what 2019-09 and OpenAPI 3.1 say, and what authors
  of older drafts mean when they write them;
* the ways of saying "or null" (OpenAPI 3.0 ``nullable``, ``type: [X,
  "null"]``, a ``null`` branch of ``anyOf``/``oneOf``, ``enum`` with ``null``,
  ``const: null``) all become ``nullable``;
* single-branch ``anyOf``/``oneOf`` wrappers (Stripe's ``anyOf: [{$ref: X}]``
  with ``nullable: true``) are unwrapped, so a mapping can walk into them.

Files and pointers are ``shimgen.schema.refs``; the meaning of single
keywords is ``shimgen.schema.keywords``; keeping listings of recursive
schemas small is ``shimgen.schema.recursion``. The only exception raised is
:class:`SchemaError`, which carries a file and, where it can be found, the
line of the offending ``$ref``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from shimgen.schema import keywords as kw
from shimgen.schema.discriminator import read_discriminator
from shimgen.schema.limits import check_size
from shimgen.schema.model import NO_LIMITS, Kind, LoadedSchema, SchemaNode
from shimgen.schema.recursion import mark_recursion_hubs
from shimgen.schema.refs import (
    DocumentStore,
    Located,
    SchemaError,
    definition_name,
    last_segment,
    select_model,
)

__all__ = ["SchemaError", "load_schema"]

_Part = tuple[dict[str, Any], Located, bool]  # (schema object, where, is the node's own site)


def load_schema(path: Path, model: str | None) -> LoadedSchema:
    """Load ``path`` and root the graph at ``model``.

    ``model`` is None or ``""`` for the document root (a JSON Schema), else a
    name looked up in ``components.schemas``, ``$defs``, ``definitions`` and
    finally the root's ``title``. Every file read (``$ref`` targets included)
    is listed in ``files``. Raises :class:`SchemaError`.
    """
    store = DocumentStore()
    doc = store.open(path)
    start = select_model(doc, model)
    builder = _Builder(store)
    root = builder.build(start)
    check_size(path, len(builder.targets), sum(builder.enums.values()))
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
        todo: list[tuple[Located, bool]] = [(loc, own)]
        while todo:  # depth first, in document order, without recursion
            loc, own = todo.pop()
            if loc.key in self._seen:
                continue
            self._seen.add(loc.key)
            self.items.append((loc, own))
            value = loc.value
            if not isinstance(value, dict):
                continue
            pulled: list[Located] = []
            if "$ref" in value:
                target = self.store.resolve(loc)
                self.refs.append(target)
                pulled.append(target)
            branches = value.get("allOf")
            if isinstance(branches, list):
                pulled.extend(loc.child("allOf", i) for i in range(len(branches)))
            todo.extend((p, False) for p in reversed(pulled))

    def dicts(self) -> list[_Part]:
        return [(loc.value, loc, own) for loc, own in self.items if isinstance(loc.value, dict)]


class _Builder:
    """Turns located JSON into nodes, memoised by (file, pointer) of every
    location (a tuple of them for merged locations), so a ``$ref`` target is
    built once and shared, and a recursive ref finds its node already in the
    memo. A node is registered *before* it is filled for exactly that reason,
    and filled later from a work list rather than by recursion, so a schema
    with very long chains of types cannot exhaust the Python stack.
    """

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.targets: set[tuple[Path, str]] = set()  # every $ref target of the model
        self.enums: dict[tuple[Path, str], int] = {}  # values of each enum, by location
        self.memo: dict[tuple[tuple[Path, str], ...], SchemaNode] = {}
        self.pending: list[tuple[SchemaNode, tuple[Located, ...]]] = []
        self.beside: list[tuple[SchemaNode, tuple[Located, ...]]] = []  # see _branches

    def build(self, start: Located) -> SchemaNode:
        root = self.node((start,))
        while self.pending or self.beside:
            while self.pending:
                node, locs = self.pending.pop()
                self._fill(node, locs)
            if self.beside:
                self._give_items(*self.beside.pop())
        mark_recursion_hubs(root)
        return root

    def node(self, locs: tuple[Located, ...]) -> SchemaNode:
        """The (possibly still empty) node for ``locs``; it is filled by :meth:`build`."""
        key = tuple(loc.key for loc in locs)
        found = self.memo.get(key)
        if found is not None:
            return found
        if len(locs) == 1 and kw.alias_step(locs[0].value) is not None:
            return self._follow(locs[0])
        node = SchemaNode(Kind.ANY, source=locs[0].source, name=definition_name(locs[0].pointer))
        self.memo[key] = node
        self.pending.append((node, locs))
        return node

    def _follow(self, start: Located) -> SchemaNode:
        """A chain of aliases (plain refs, single-branch allOf) ends at one node,
        shared by every link of the chain and named after the last ref target."""
        chain = [start]
        seen = {start.key}  # one set for the whole chain: a set per step was quadratic
        loc = start
        named: Located | None = None
        while (step := kw.alias_step(loc.value)) is not None:
            if step == "$ref":
                loc = named = self.store.resolve(loc)
                self.targets.add(loc.key)
            else:
                loc = loc.child("allOf", 0)
            if loc.key in seen:
                raise SchemaError(
                    f"$ref cycle that never reaches a schema: {' -> '.join(c.source for c in chain)}",
                    start.doc.path,
                    hint="one of these refs must point at an actual schema",
                )
            chain.append(loc)
            seen.add(loc.key)
        node = self.node((loc,))
        if node.name is None and named is not None:
            node.name = last_segment(named.pointer) or _doc_title(named)
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
        union_at: Located | None = None
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
                    role = kw.branch_role(branch)
                    if role == "null":
                        force_null = True
                    elif role == "real":
                        real.append(loc.child(keyword, j))
                if len(real) == 1:
                    parts.add(real[0], False)
                elif len(real) > 1 and union is None:
                    union, union_at = real, loc
        self.targets.update(ref.key for ref in parts.refs)
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
            node.variants = self._branches(node, union, dicts)
            if union_at is not None:
                node.discriminator = read_discriminator(self.store, union_at, union)
            return
        schemas = [d for d, _, _ in dicts]
        kinds = kw.kinds(schemas)
        if kinds is None:
            node.kind = kw.infer_kind(schemas)
        elif not kinds:
            node.kind = Kind.NULL
            node.nullable = True
        elif len(kinds) == 1:
            node.kind = kinds[0]
        else:
            node.kind = Kind.UNION
            variants = []
            for kind in kinds:
                variant = SchemaNode(
                    kind,
                    source=node.source,
                    format=node.format,
                    pattern=node.pattern,
                    limits=node.limits,
                )
                self._shape(variant, dicts)
                variants.append(variant)
            node.variants = tuple(variants)
            node.format = None
            node.pattern = None
            node.limits = NO_LIMITS
            return
        self._shape(node, dicts)

    def _branches(
        self, node: SchemaNode, union: list[Located], dicts: list[_Part]
    ) -> tuple[SchemaNode, ...]:
        """The union's branches. An ``items`` beside the ``oneOf`` constrains every
        array, so an array branch that declares no items of its own takes it
        (SchemaStore's ``types: oneOf[array, string]`` used with ``items: {enum}``).
        Branches are filled later, so that is settled in :meth:`build`."""
        beside = tuple(
            loc.child("items") for d, loc, _ in dicts if isinstance(d.get("items"), dict)
        )
        if beside:
            self.beside.append((node, beside))
        return tuple(self.node((b,)) for b in union)

    def _give_items(self, node: SchemaNode, beside: tuple[Located, ...]) -> None:
        variants = list(node.variants)
        for i, branch in enumerate(variants):
            if branch.kind is Kind.ARRAY and branch.items and branch.items.kind is Kind.ANY:
                variants[i] = dataclasses.replace(branch, items=self.node(beside))
        node.variants = tuple(variants)

    def _annotate(self, node: SchemaNode, dicts: list[_Part], force_null: bool) -> None:
        """Annotations: the first one found wins, the node's own schema first."""
        typed_allow_null: list[bool] = []
        own_null = force_null
        for d, loc, own in dicts:
            typed = kw.allows_null(d)
            if typed is not None:
                typed_allow_null.append(typed)
            if own and (typed or d.get("nullable") is True):
                # The field's own site wins over what it references: OpenAPI 3.0's
                # `allOf: [{$ref: X}], nullable: true` idiom means "X or null".
                own_null = True
            if node.description is None and isinstance(d.get("description"), str):
                node.description = d["description"]
            if node.format is None and isinstance(d.get("format"), str):
                node.format = d["format"]
            if node.pattern is None and isinstance(d.get("pattern"), str):
                node.pattern = d["pattern"]
            node.limits = node.limits.meet(kw.limits(d))  # allOf: every part's bounds hold
            classification = d.get("x-classification")
            if node.classification is None and isinstance(classification, str):
                node.classification = classification
                node.classification_at = loc.source
            node.read_only = node.read_only or d.get("readOnly") is True
            node.write_only = node.write_only or d.get("writeOnly") is True
            values = kw.enum_values(d) if node.enum is None else None
            if values is not None:
                self.enums[loc.key] = len(values)
                if None in values:
                    own_null = True
                node.enum = tuple(v for v in values if v is not None)
        # allOf: nullable only if every part that constrains the type allows null.
        node.nullable = own_null or (bool(typed_allow_null) and all(typed_allow_null))

    def _shape(self, node: SchemaNode, dicts: list[_Part]) -> None:
        """Fill the structure that belongs to ``node.kind`` (fields, items, values)."""
        if node.kind is Kind.OBJECT:
            self._object(node, dicts)
        elif node.kind is Kind.ARRAY:
            self._array(node, dicts)

    def _object(self, node: SchemaNode, dicts: list[_Part]) -> None:
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
            for name in sorted(required - node.properties.keys()):
                # Required but never declared (Box's shared_link.accessed): it must be
                # there, with any value. An untyped field, so a copy is refused (SG106)
                # and the external side asks for a source (SG105), where dropping it
                # let a shim send records its own external schema refuses.
                node.properties[name] = SchemaNode(Kind.ANY, source=f"{node.source}/required")
            node.required = frozenset(required)
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

    def _array(self, node: SchemaNode, dicts: list[_Part]) -> None:
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
        elif tuple_items and all(t.value == tuple_items[0].value for t in tuple_items):
            node.items = self.node((tuple_items[0],))  # [x, y] coordinates: one shape
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
