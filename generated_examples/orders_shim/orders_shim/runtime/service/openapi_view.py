"""What ``/openapi.json`` shows an external caller: the operations it may call, the schemas they use.

The document bundles both schemas, the internal one included, with its field
names, descriptions, enum codes and patterns: the internal data model that the
external schema exists to hide. Served to anyone, it told a partner what the
shim keeps from it (red-team, third pass). So the document is served only to
authenticated callers, like every route that carries data, and an external
caller gets :func:`external_view`: the proxy routes and the public operations,
only the components those reach through ``$ref``, and no operation's
``x-shim-internal`` (the internal API's method and path a route forwards to).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

__all__ = ["INTERNAL_KEY", "external_view"]

_PUBLIC: Final = ("/healthz", "/readyz", "/openapi.json")  # what any caller may call as well
INTERNAL_KEY: Final = "x-shim-internal"  # on a proxy route: the internal method and path
_PREFIX: Final = "#/components/schemas/"


def external_view(doc: dict[str, Any], routes: Iterable[str]) -> dict[str, Any]:
    """``doc`` cut to the paths in ``routes`` and :data:`_PUBLIC`, and the schemas they use."""
    keep = set(routes) | set(_PUBLIC)
    paths = {path: item for path, item in doc.get("paths", {}).items() if path in keep}
    schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})
    used: set[str] = set()
    todo = list(_refs(paths))
    while todo:
        name = todo.pop()
        if name in used or name not in schemas:
            continue
        used.add(name)
        todo.extend(_refs(schemas[name]))
    components = {**doc.get("components", {}), "schemas": {n: schemas[n] for n in sorted(used)}}
    return {**doc, "paths": _without_internal(paths), "components": components}


def _without_internal(paths: dict[str, Any]) -> dict[str, Any]:
    """The operations without ``x-shim-internal`` (the internal method and path they reach)."""
    return {
        path: {
            method: {k: v for k, v in op.items() if k != INTERNAL_KEY}
            if isinstance(op, dict)
            else op
            for method, op in item.items()
        }
        for path, item in paths.items()
    }


def _refs(node: Any) -> Iterable[str]:
    """Every component schema name a ``$ref`` in ``node`` points at."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(_PREFIX):
                yield ref[len(_PREFIX) :].replace("~1", "/").replace("~0", "~")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
