"""One side of a diff: a checked mapping and how to point into it.

The comparison works on resolved plans (so `x-classification`, default `to:`
paths and the bare-treatment shorthand are already normalised), but lines
and descriptions live in the YAML, so a side carries both.
"""

from __future__ import annotations

from dataclasses import dataclass

from shimgen.check.plan import Rule, ShimPlan, View
from shimgen.mapping.load import LoadedMapping
from shimgen.mapping.model import Mapping
from shimgen.mapping.yamlpos import DataPath
from shimgen.schema.model import format_path

NO_GROUP = "no group"
"""How the view of a request made in no group is named in reports."""


def view_name(view: View) -> str:
    return NO_GROUP if view is None else view


def field_subject(rule: Rule) -> str:
    """How a change about a field rule is named: ``fields.name.given``."""
    return f"fields.{format_path(rule.internal)}"


@dataclass(frozen=True)
class Side:
    label: str  # as the user wrote it: a path or REV:PATH
    plan: ShimPlan
    loaded: LoadedMapping

    @property
    def mapping(self) -> Mapping:
        assert self.loaded.mapping is not None  # a plan exists only for a loaded mapping
        return self.loaded.mapping

    def line(self, path: DataPath) -> int:
        """The line of the key at ``path`` (or of its nearest written ancestor)."""
        return self.loaded.positions.key(path).line

    def line_first(self, *paths: DataPath) -> int:
        """The line of the first of ``paths`` written in the file, else of the last one."""
        for path in paths:
            if path in self.loaded.positions.keys:
                return self.loaded.positions.keys[path].line
        return self.line(paths[-1])
