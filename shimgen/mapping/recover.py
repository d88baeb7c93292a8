"""Check the rest of a mapping file whose shape is wrong in places (error recovery).

A compiler that stops at the first syntax error makes its user fix a file one run at
a time. When a mapping has shape errors (SG003 to SG005, SG115 for a bare null), the
loader reports them all, and :func:`recover` sets the broken parts aside so that the
semantic checks (SG006 and up) still run on everything else in the same run:

* a broken entry of ``fields``, ``derived``, ``classification`` or ``tracking`` is
  left out; so is a broken item of ``routes`` (later items keep their positions);
* a group whose ``elevated:`` (or description) is broken stays declared, as a
  standing group, so the fields and routes naming it are checked as usual;
* a broken ``upstream`` is left out with every route (a route needs it);
* ``shim``, ``version``, ``owner`` and ``description`` get a placeholder, and an
  unknown top-level key is left out;
* anything else (``internal``, ``external``, ``extends``, ``levels``, a section of the
  wrong type, a group's name) is what every other check stands on: nothing is
  recovered, and the other checks wait for the fix, as before.

Nothing recovered is ever generated: the file has errors, so there is no plan.
What was left out would come back as findings that are only its consequences (a
field left out is "not in the mapping", SG101), so :class:`Recovery` says where
findings may not be trusted: at or under a part left out, and, once a ``fields`` or
``derived`` entry is left out, the checks that need every entry (:data:`WAITING`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from shimgen.diagnostics import Code
from shimgen.mapping.model import Mapping
from shimgen.mapping.yamlpos import DataPath

__all__ = ["WAITING", "Recovery", "recover"]

WAITING: Final = frozenset(
    {
        Code.UNCOVERED_FIELD,  # a field left out is "not in the mapping"
        Code.REQUIRED_UNSOURCED,  # its target would have no source
        Code.ROUTE_PARAM_FIELD,  # a route parameter's field may be the one left out
        Code.ROUTE_PARAM_IRREVERSIBLE,
        Code.ROUTE_PARAM_UNBOUND,
    }
)
"""Checks that need every field entry: they wait while a ``fields``/``derived`` entry is out."""

_ENTRIES: Final = frozenset({"fields", "derived", "classification", "tracking"})
_PLACEHOLDERS: Final[dict[str, Any]] = {
    "shim": "recovered",
    "version": 1,
    "owner": "recovered",
    "description": "",
}


class _Unrecoverable(Exception):
    """A shape error in a part every other check stands on."""


@dataclass(frozen=True)
class Recovery:
    """The part of a mapping that has the right shape, and what was left out to get it."""

    mapping: Mapping
    left_out: frozenset[DataPath]  # entries and items set aside, as paths into the YAML
    routes: tuple[int, ...]  # the file's index of each route kept, in order

    @property
    def waiting(self) -> frozenset[Code]:
        """Codes not reported in this run: they need the entries that were left out."""
        if any(path[0] in ("fields", "derived") for path in self.left_out):
            return WAITING
        return frozenset()

    def locate(self, where: DataPath, code: Code) -> DataPath | None:
        """Where a finding on the recovered mapping belongs in the file; None: drop it."""
        if code in self.waiting:
            return None
        if len(where) > 1 and where[0] == "routes" and isinstance(where[1], int):
            where = ("routes", self.routes[where[1]], *where[2:])
        if any(where[: len(out)] == out for out in self.left_out):
            return None
        return where


def recover(data: dict[str, Any], errors: Sequence[DataPath]) -> Recovery | None:
    """The mapping ``data`` without the parts its shape ``errors`` are in; None if none can be."""
    data = copy.deepcopy(data)
    left_out: set[DataPath] = set()
    try:
        for loc in errors:
            _set_aside(data, loc, left_out)
    except _Unrecoverable:
        return None
    routes = data.get("routes")
    kept: tuple[int, ...] = ()
    if isinstance(routes, list):
        kept = tuple(i for i in range(len(routes)) if ("routes", i) not in left_out)
        data["routes"] = [routes[i] for i in kept]
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError:  # what was left standing still does not fit: report the shape only
        return None
    return Recovery(mapping, frozenset(left_out), kept)


def _set_aside(data: dict[str, Any], loc: DataPath, left_out: set[DataPath]) -> None:
    """Change ``data`` so that the shape error at ``loc`` is gone, or raise _Unrecoverable."""
    if not loc:
        raise _Unrecoverable
    top = loc[0]
    if top in _PLACEHOLDERS and len(loc) == 1:
        data[top] = _PLACEHOLDERS[top]
        left_out.add((top,))
    elif top in _ENTRIES and len(loc) > 1 and isinstance(data.get(top), dict):
        data[top].pop(loc[1], None)
        left_out.add((top, loc[1]))
    elif top == "routes" and len(loc) > 1 and isinstance(loc[1], int):
        left_out.add(("routes", loc[1]))
    elif top == "groups" and len(loc) > 1 and loc[2:3] != ("[key]",):
        groups = data.get("groups")
        if not isinstance(groups, dict) or loc[1] not in groups:
            raise _Unrecoverable
        spec = groups[loc[1]]
        text = spec.get("description") if isinstance(spec, dict) else None
        groups[loc[1]] = text if isinstance(text, str) else ""
        left_out.add(("groups", loc[1]))
    elif top == "upstream":
        data.pop("upstream", None)
        data.pop("routes", None)
        left_out.update({("upstream",), ("routes",)})
    elif len(loc) == 1 and top not in Mapping.model_fields:
        data.pop(str(top), None)  # an unknown top-level key
    else:
        raise _Unrecoverable
