"""Bundle a mapping's schemas into OpenAPI 3.1 ``components.schemas``.

The generated service serves one self-contained OpenAPI document and
validates requests against it with jsonschema-rs, so the schemas the mapping
was checked against must be copied in: every definition reachable from a
model, whichever file or table (``$defs``, ``definitions``,
``components.schemas``) it lives in, becomes one named component, and every
``$ref`` is rewritten to point at it. Reading files and following refs reuses
:class:`shimgen.schema.refs.DocumentStore`, so the bundle sees exactly the
schemas the checker saw.

While copying, the older spellings are made JSON Schema 2020-12 (the dialect
of OpenAPI 3.1) with the meaning the loader gives them: OpenAPI 3.0
``nullable``, boolean ``exclusiveMinimum``, list-form ``items``, draft-07
``dependencies``. Vendor extensions (``x-classification`` and friends) are
internal review metadata and are never copied into a document the service
hands to callers. Keywords that would change how refs resolve (``$id``,
``$schema``, anchors) or that hold refs we do not rewrite (``discriminator``)
are dropped, as are the definition tables themselves (what is reachable in
them is bundled on its own).
"""

from __future__ import annotations

import copy
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimgen.schema.model import ARRAY, Path_
from shimgen.schema.refs import DocumentStore, Located, definition_name, select_model, split_pointer

REF_PREFIX = "#/components/schemas/"

_ONE = frozenset(
    {
        "additionalProperties",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
"""Keywords whose value is one subschema."""
_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_DROP = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$dynamicAnchor",
        "$dynamicRef",
        "$recursiveAnchor",
        "$recursiveRef",
        "$defs",
        "definitions",
        "discriminator",
        "nullable",
        "additionalItems",  # folded into items by _items
    }
)
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "example",
        "readOnly",
        "writeOnly",
        "deprecated",
        "$comment",
        "externalDocs",
        "xml",
    }
)
_APPLICATORS = frozenset({"$ref", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "const"})
"""With any of these beside ``type``, adding "null" to ``type`` does not let null through."""
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Bundle:
    """Component schemas by name, and the component each side's model became."""

    schemas: dict[str, Any] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)


def bundle_schemas(sides: Sequence[tuple[str, Path, str]]) -> Bundle:
    """Bundle each ``(prefix, schema file, model)``; names are ``<prefix>.<Name>``.

    Each side is bundled on its own (even when both name the same file), so
    ``internal.*`` and ``external.*`` never share a component and a change to
    one side's schema cannot silently change the other side's contract.
    Raises :class:`shimgen.schema.refs.SchemaError` like the loader does.
    """
    bundle = Bundle()
    for prefix, path, model in sides:
        bundle.roots[prefix] = _Side(prefix, bundle.schemas).run(path, model)
    return bundle


def sanitize(name: str) -> str:
    """A component name OpenAPI accepts (``^[A-Za-z0-9._-]+$``)."""
    return _NAME.sub("_", name).strip("_") or "schema"


class _Side:
    """One side's bundle: names are given when a schema is first reached, and
    schemas are copied from a work list, so recursive refs terminate and deep
    schemas do not exhaust the stack."""

    def __init__(self, prefix: str, schemas: dict[str, Any]) -> None:
        self.prefix = prefix
        self.schemas = schemas
        self.store = DocumentStore()
        self.names: dict[tuple[Path, str], str] = {}
        self.todo: deque[Located] = deque()

    def run(self, path: Path, model: str) -> str:
        start = select_model(self.store.open(path), model)
        root = self.name(start, model or None)
        while self.todo:
            loc = self.todo.popleft()
            self.schemas[self.names[loc.key]] = self.convert(loc, branch=False)
        return root

    def name(self, loc: Located, preferred: str | None = None) -> str:
        """The component for a schema location, reserved (and queued) on first sight."""
        found = self.names.get(loc.key)
        if found is not None:
            return found
        base = preferred or definition_name(loc.pointer)
        if base is None and not loc.pointer:
            title = loc.value.get("title") if isinstance(loc.value, dict) else None
            base = title if isinstance(title, str) else _stem(loc.doc.path)
        if base is None:
            base = ".".join(split_pointer(loc.pointer))
        candidate = stem = f"{self.prefix}.{sanitize(base)}"
        n = 1
        while candidate in self.schemas:
            n += 1
            candidate = f"{stem}-{n}"
        self.schemas[candidate] = None  # reserved until converted
        self.names[loc.key] = candidate
        self.todo.append(loc)
        return candidate

    def convert(self, loc: Located, branch: bool) -> Any:
        """A 2020-12 copy of the schema at ``loc`` with its refs pointing at components.

        ``branch``: the schema is an ``anyOf``/``oneOf`` branch, where a bare
        ``{nullable: true}`` is the OpenAPI 3.0 way to write "or null".
        """
        value = loc.value
        if not isinstance(value, dict):
            return value if isinstance(value, bool) else {}
        out: dict[str, Any] = {}
        for key, sub in value.items():
            if not isinstance(key, str) or key.startswith("x-") or key in _DROP:
                continue
            if key == "$ref":
                out[key] = REF_PREFIX + self.name(self.store.resolve(loc))
            elif key == "id" and isinstance(sub, str):
                continue  # draft-04 $id
            elif key == "items":
                out.update(self._items(loc, sub))
            elif key in _ONE:
                out[key] = self.convert(loc.child(key), branch=False)
            elif key in _MAPS and isinstance(sub, dict):
                out[key] = {k: self.convert(loc.child(key, k), branch=False) for k in sub}
            elif key in _LISTS and isinstance(sub, list):
                out[key] = [
                    self.convert(loc.child(key, i), branch=key != "allOf") for i in range(len(sub))
                ]
            elif key == "dependencies" and isinstance(sub, dict):
                self._dependencies(loc, sub, out)
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(sub, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if sub and bound in value:
                    out[key] = value[bound]
            elif key in ("minimum", "maximum") and _exclusive(value, key):
                continue  # moved to exclusiveMinimum / exclusiveMaximum
            else:
                out[key] = copy.deepcopy(sub)
        return _null_semantics(out, value.get("nullable") is True, branch)

    def _items(self, loc: Located, items: Any) -> dict[str, Any]:
        if isinstance(items, list):  # draft 4-2019-09 tuple form
            out: dict[str, Any] = {
                "prefixItems": [
                    self.convert(loc.child("items", i), branch=False) for i in range(len(items))
                ]
            }
            extra = loc.value.get("additionalItems")
            if isinstance(extra, dict | bool):
                out["items"] = self.convert(loc.child("additionalItems"), branch=False)
            return out
        return {"items": self.convert(loc.child("items"), branch=False)}

    def _dependencies(self, loc: Located, deps: dict[str, Any], out: dict[str, Any]) -> None:
        for name, dep in deps.items():
            if isinstance(dep, list):
                out.setdefault("dependentRequired", {})[name] = list(dep)
            else:
                schema = self.convert(loc.child("dependencies", name), branch=False)
                out.setdefault("dependentSchemas", {})[name] = schema


def _exclusive(value: dict[str, Any], bound: str) -> bool:
    flag = value.get("exclusiveMinimum" if bound == "minimum" else "exclusiveMaximum")
    return flag is True


def _null_semantics(out: dict[str, Any], nullable: bool, branch: bool) -> dict[str, Any]:
    """What the loader reads as "or null", spelled so a 2020-12 validator agrees.

    ``enum`` with ``null`` beside a ``type`` without it counts as nullable
    (the loader folds both into ``nullable``). A ``type`` with nothing that
    could still reject null gets ``"null"`` added; anything else is wrapped
    as ``anyOf: [schema, {type: null}]``, keeping annotations outside.
    """
    enum = out.get("enum")
    if not nullable and isinstance(enum, list) and None in enum and "type" in out:
        nullable = True
    if not nullable:
        return out
    kind = out.get("type")
    if kind is not None and not _APPLICATORS & out.keys():
        types = [kind] if isinstance(kind, str) else list(kind)
        out["type"] = types if "null" in types else [*types, "null"]
        if isinstance(enum, list) and None not in enum:
            out["enum"] = [*enum, None]
        return out
    notes = {k: v for k, v in out.items() if k in _ANNOTATIONS}
    core = {k: v for k, v in out.items() if k not in _ANNOTATIONS}
    if not core:
        return {**notes, "type": "null"} if branch else notes
    for key in ("anyOf", "oneOf", "allOf"):
        only = core.get(key)
        if len(core) == 1 and isinstance(only, list) and len(only) == 1:
            core = only[0]  # Stripe's `anyOf: [X], nullable: true`: X or null
            break
    return {**notes, "anyOf": [core, {"type": "null"}]}


def _stem(path: Path) -> str:
    """``k8s-v1.37-secret.schema.json`` -> ``k8s-v1.37-secret``: a name for a whole-file schema."""
    name = path.name
    for suffix in (".json", ".yaml", ".yml", ".schema", ".openapi"):
        name = name.removesuffix(suffix)
    return name


def subschema(schemas: dict[str, Any], root: str, path: Path_) -> Any:
    """The bundled schema of the field at ``path`` under component ``root``, or ``{}``.

    Follows ``$ref``, ``allOf`` and ``anyOf``/``oneOf`` branches (the first
    one that has the field wins), the way the loader merges them into one
    node. ``{}`` (anything) when the field is not found in this form, so a
    caller that uses it never rejects what the translator accepts.
    """
    current: Any = schemas.get(root, {})
    for seg in path:
        current = _step(schemas, current, seg)
        if current is None:
            return {}
    return copy.deepcopy(current)


def _step(schemas: dict[str, Any], start: Any, seg: str) -> Any:
    todo, seen = deque([start]), set()
    while todo:
        schema = todo.popleft()
        if not isinstance(schema, dict) or id(schema) in seen:
            continue
        seen.add(id(schema))
        if seg == ARRAY and isinstance(schema.get("items"), dict | bool):
            return schema["items"]
        props = schema.get("properties")
        if seg != ARRAY and isinstance(props, dict) and seg in props:
            return props[seg]
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            todo.append(schemas.get(ref[len(REF_PREFIX) :]))
        for key in ("allOf", "anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list):
                todo.extend(branches)
    return None
