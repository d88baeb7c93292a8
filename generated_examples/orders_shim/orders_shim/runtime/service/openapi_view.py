"""What ``/openapi.json`` shows an external caller: the operations it may call, the schemas they use.

The document bundles both schemas, the internal one included, with its field
names, descriptions, enum codes and patterns: the internal data model that the
external schema exists to hide. Served to anyone, it told a partner what the
shim keeps from it (red-team, third pass). So the document is served only to
authenticated callers, like every route that carries data; an internal caller
gets it whole, and an external caller gets :func:`external_view` for its own
groups: the proxy routes open to one of them, the grant endpoints (where the
shim has elevated groups: any caller may ask), the probes and the document,
only the components those reach through ``$ref`` (schemas, and any other
section), and no operation's ``x-shim-internal`` (the internal API's method
and path a route forwards to).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

__all__ = ["INTERNAL_KEY", "OpenAPIViews", "external_view"]

INTERNAL_KEY: Final = "x-shim-internal"  # on a proxy route: the internal method and path
_PUBLIC: Final = ("/healthz", "/readyz", "/openapi.json")  # what any caller may call as well
_ACCESS: Final = "/v1/access/"  # the grant endpoints: no group needed to call them
_COMPONENTS: Final = "#/components/"
_KEEP_WHOLE: Final = ("securitySchemes",)  # how to authenticate: nothing internal in it
_MAX_VIEWS: Final = 256  # distinct group sets kept encoded; beyond, the cache starts afresh


class OpenAPIViews:
    """The document's encoded views: whole for internal callers, one per external group set."""

    def __init__(self, doc: dict[str, Any], routes: Sequence[Any]) -> None:
        self.doc = doc
        self.whole = orjson.dumps(doc)
        # (path, method) -> the groups that may call it, for every proxy route
        self._routes = {(r.path, r.method.lower()): frozenset(r.groups) for r in routes}
        self._views: dict[frozenset[str], bytes] = {}

    def for_caller(self, internal: bool, groups: Iterable[str]) -> bytes:
        if internal:
            return self.whole
        key = frozenset(groups)
        view = self._views.get(key)
        if view is None:
            allowed = {op for op, need in self._routes.items() if need & key}
            view = orjson.dumps(external_view(self.doc, allowed))
            if len(self._views) >= _MAX_VIEWS:
                self._views.clear()
            self._views[key] = view
        return view


def external_view(doc: Mapping[str, Any], operations: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``doc`` cut to ``operations`` ((path, method) pairs), the grant endpoints, the public
    operations, and the components they reach; without :data:`INTERNAL_KEY`."""
    allowed = set(operations)
    paths: dict[str, Any] = {}
    for path, item in doc.get("paths", {}).items():
        everyone = path in _PUBLIC or path.startswith(_ACCESS)
        kept = {
            method: {k: v for k, v in op.items() if k != INTERNAL_KEY}
            for method, op in item.items()
            if isinstance(op, dict) and (everyone or (path, method) in allowed)
        }
        if kept:
            paths[path] = kept
    components: dict[str, Any] = doc.get("components", {})
    used: set[tuple[str, str]] = set()
    todo = list(_refs(paths))
    while todo:
        section, name = todo.pop()
        entry = components.get(section, {}).get(name)
        if entry is None or (section, name) in used:
            continue
        used.add((section, name))
        todo.extend(_refs(entry))
    kept_components: dict[str, Any] = {s: components[s] for s in _KEEP_WHOLE if s in components}
    for section, name in sorted(used):
        kept_components.setdefault(section, {})[name] = components[section][name]
    return {**doc, "paths": paths, "components": kept_components}


def _refs(node: Any) -> Iterable[tuple[str, str]]:
    """Every ``(section, name)`` of ``#/components/<section>/<name>`` a ``$ref`` in ``node`` names."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(_COMPONENTS):
                section, _, name = ref[len(_COMPONENTS) :].partition("/")
                yield section, name.replace("~1", "/").replace("~0", "~")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
