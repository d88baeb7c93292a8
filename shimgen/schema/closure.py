"""One model and the schemas it references, as a single self-contained document.

datamodel-code-generator makes the pydantic model files of a shim. Given the
whole schema file it models every schema in it (Box's 1.7 MB OpenAPI document
for one ``User--Full``) and, when component names contain dots
(``io.k8s.api.core.v1.Pod``, Stripe's ``issuing.authorization``), it writes a
package of modules instead of one file. Both go away when it is given only the
model's ``$ref`` closure, every schema under a Python-safe name, in one
document: the models a shim validates with are exactly those, and refs into
other files, ``$anchor`` refs and ``$id``-addressed refs are already resolved
(by :class:`~shimgen.schema.refs.DocumentStore`, the loader's own resolver).

The model keeps its place: an OpenAPI document stays OpenAPI with the model
under ``components.schemas`` (so OpenAPI's ``nullable`` still means what it
says), and a JSON Schema model becomes the root of the new document.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shimgen.schema.refs import (
    DATA_KEYWORDS,
    DocumentStore,
    Located,
    definition_name,
    last_segment,
    select_model,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
_IDENTIFIERS = ("$id", "id")


def safe_name(name: str) -> str:
    """``io.k8s.api.core.v1.Pod`` -> ``io_k8s_api_core_v1_Pod``; never empty, never a digit first."""
    out = _UNSAFE.sub("_", name).strip("_") or "Schema"
    return f"_{out}" if out[0].isdigit() else out


class _Bundle:
    """Copies schemas with every ``$ref`` rewritten to the bundled definitions."""

    def __init__(self, store: DocumentStore, root: Located, openapi: bool) -> None:
        self.store = store
        self.root_key = root.key
        self.openapi = openapi
        self.table = "#/components/schemas/" if openapi else "#/$defs/"
        self.names: dict[tuple[Path, str], str] = {}
        self.taken: set[str] = set()
        self.defs: dict[str, Any] = {}
        self.todo: list[Located] = []

    def name_of(self, target: Located) -> str:
        """The bundled name of a ref target, given on first sight and queued for copying."""
        found = self.names.get(target.key)
        if found is not None:
            return found
        base = safe_name(
            definition_name(target.pointer)
            or last_segment(target.pointer)
            or _title(target.value)
            or target.doc.path.stem.split(".")[0]
        )
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        self.names[target.key] = name
        self.todo.append(target)
        return name

    def ref_to(self, target: Located) -> str:
        if target.key == self.root_key and not self.openapi:
            return "#"  # the model is the new document's root
        return self.table + self.name_of(target)

    def copy(self, loc: Located, top: bool) -> Any:
        """``loc.value`` with refs rewritten; a top-level copy drops its own definition tables."""
        value = loc.value
        if isinstance(value, list):
            return [self.copy(loc.child(i), False) for i in range(len(value))]
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, sub in value.items():
            if key == "$ref" and isinstance(sub, str):
                out[key] = self.ref_to(self.store.resolve(loc))
            elif key in _IDENTIFIERS and isinstance(sub, str):
                continue  # refs are resolved: a base URI left behind would re-scope them
            elif top and key in ("$defs", "definitions"):
                continue  # what is used is bundled by name; the rest is not modelled
            elif key in DATA_KEYWORDS:
                out[key] = sub
            elif key == "discriminator" and isinstance(sub, dict):
                out[key] = self._discriminator(loc.child(key))
            else:
                out[key] = self.copy(loc.child(key), False)
        return out

    def _discriminator(self, loc: Located) -> dict[str, Any]:
        """OpenAPI discriminator mappings name schemas by ref: rewritten like ``$ref``."""
        out = dict(loc.value)
        mapping = out.get("mapping")
        if isinstance(mapping, dict):
            out["mapping"] = {
                k: self.ref_to(self.store.resolve(Located(loc.doc, loc.pointer, {"$ref": v})))
                if isinstance(v, str)
                else v
                for k, v in mapping.items()
            }
        return out

    def drain(self) -> None:
        while self.todo:
            target = self.todo.pop(0)
            self.defs[self.names[target.key]] = self.copy(target, True)


def model_closure(path: Path, model: str | None) -> tuple[dict[str, Any], bool]:
    """The bundled document for ``model`` in ``path``, and whether it is OpenAPI.

    Raises :class:`~shimgen.schema.refs.SchemaError` like the loader does (the
    loader has read the same files by then, so in practice it does not).
    """
    store = DocumentStore()
    doc = store.open(path)
    start = select_model(doc, model)
    data = doc.data if isinstance(doc.data, dict) else {}
    openapi = "openapi" in data and bool(model)
    bundle = _Bundle(store, start, openapi)
    if openapi:
        bundle.name_of(start)
        bundle.drain()
        found = data.get("info")
        info: dict[str, Any] = found if isinstance(found, dict) else {}
        document: dict[str, Any] = {
            "openapi": data["openapi"],
            "info": {"title": info.get("title", "schemas"), "version": info.get("version", "0")},
            "paths": {},
            "components": {"schemas": bundle.defs},
        }
        return document, True
    root = bundle.copy(start, True)
    if not isinstance(root, dict):  # `true` / `false` schemas
        root = {} if root else {"not": {}}
    bundle.drain()
    if "$schema" in data and "$schema" not in root:
        root = {"$schema": data["$schema"], **root}
    if model and "title" not in root:
        root["title"] = safe_name(model)
    if bundle.defs:
        root["$defs"] = bundle.defs
    return root, False


def _title(value: Any) -> str | None:
    title = value.get("title") if isinstance(value, dict) else None
    return title if isinstance(title, str) else None
