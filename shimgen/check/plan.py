"""The resolved shim: the intermediate model between checking and rendering.

A :class:`ShimPlan` is what a mapping *means* once every path is found in its
schema and every treatment parsed. Code generation, translation and review
read only this model, never the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from shimgen.mapping.levels import BUILTIN, BUILTIN_LEVELS, SENSITIVE, Levels
from shimgen.schema.model import ARRAY, LoadedSchema, Path_, SchemaNode, format_path
from shimgen.treatments import Treatment

View = str | None
"""A functional group name, or None for a request made in no group."""

__all__ = [
    "SENSITIVE",
    "Derived",
    "Elevation",
    "Levels",
    "Route",
    "RouteParam",
    "Rule",
    "ShimPlan",
    "Upstream",
]


@dataclass(frozen=True)
class Rule:
    """One internal field (or subtree) and where it goes.

    More specific wins: an entry with more specific entries inside it (its
    ``exceptions``) is a *default*. It does not go to code generation
    itself; each field under it that no exception governs becomes a rule of
    its own with the default's treatment (its ``remainder``, each with
    ``parent`` set to the default's key). ``ShimPlan.rules`` holds those, so
    every field is emitted exactly once; ``ShimPlan.entries`` holds the
    entries as written, defaults included, for review, diff and lint.
    """

    key: str  # as written in the mapping
    internal: Path_
    external: Path_
    treat: Treatment
    groups: dict[str, Treatment]
    inbound: bool
    why: str | None
    classification: str | None
    in_node: SchemaNode
    out_node: SchemaNode | None  # None when every view drops the field
    levels: Levels = BUILTIN  # what each classification counts as (one place for every stage)
    parent: str | None = None  # remainder rule: the key of the default it inherits
    exceptions: tuple[str, ...] = ()  # default: the keys of the more specific entries inside it
    remainder: tuple[Rule, ...] = ()  # default: the fields it governs (drop included)

    @property
    def is_default(self) -> bool:
        """An entry with more specific entries inside it."""
        return bool(self.exceptions)

    @property
    def label(self) -> str:
        """The field as messages name it: the key, or the path of a remainder field."""
        return self.key if self.parent is None else format_path(self.internal)

    @property
    def level(self) -> str | None:
        """The built-in level the classification counts as (``confidential`` -> ``pii``)."""
        return self.levels.counts_as(self.classification)

    def treatment(self, view: View) -> Treatment:
        """The treatment one view gets; no group gets the strictest of all."""
        if view is not None:
            return self.groups.get(view, self.treat)
        return max([self.treat, *self.groups.values()], key=lambda t: t.rank)

    @property
    def sensitive(self) -> bool:
        return self.levels.sensitive(self.classification)

    @property
    def carries_sensitive(self) -> bool:
        """The field, or any part a whole-field copy carries, is pii or secret.

        For a default, that is what it governs (its remainder): the fields its
        exceptions govern are theirs to answer for.
        """
        if self.sensitive:
            return True
        if self.is_default:
            return any(r.carries_sensitive for r in self.remainder)
        seen: set[int] = set()
        todo = [self.in_node]
        while todo:  # schema graphs may be cyclic: each node is walked once
            node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if self.levels.sensitive(node.classification):
                return True
            todo.extend(node.properties.values())
            todo.extend(n for n in (node.items, node.values) if n is not None)
            todo.extend(node.variants)
        return False

    @property
    def context(self) -> str:
        """The field identity tokens and hashes are bound to."""
        return format_path(self.internal)


@dataclass(frozen=True)
class Derived:
    """An external field computed from internal values or a constant."""

    name: str
    external: Path_
    sources: tuple[Path_, ...]
    template: str | None
    const: Any
    dropped_for: frozenset[str]
    why: str | None
    out_node: SchemaNode
    count: bool = False  # the number of items of the one source, an array

    def emitted(self, view: View) -> bool:
        return not self.dropped_for if view is None else view not in self.dropped_for

    @property
    def kind(self) -> str:
        """How the value is made (``template``, ``const`` or ``count``): its name in the
        audit trail's field list and the generated README, where a treatment would be."""
        if self.count:
            return "count"
        return "const" if self.template is None else "template"


@dataclass(frozen=True)
class Upstream:
    """The internal API proxy routes forward to; its base URL is read from ``url_env`` at run time."""

    url_env: str
    timeout: float | None


@dataclass(frozen=True)
class RouteParam:
    """A path parameter: an external field the caller sends, reversed into an internal field."""

    name: str  # as written in the external path, e.g. "customerId"
    external: Path_  # the external field it carries (a rule with inbound: true)
    internal: Path_  # the internal field it becomes, e.g. ("id",)
    internal_name: str  # as written in the internal path, e.g. "id"


@dataclass(frozen=True)
class Route:
    """An external method and path bound to an internal one (a proxy route)."""

    method: str  # external method, upper case
    path: str  # external path template, e.g. "/customers/{customerId}"
    internal_method: str
    internal_path: str  # e.g. "/internal/customers/{id}"
    groups: tuple[str, ...]  # groups allowed to call it (deny by default)
    params: tuple[RouteParam, ...]
    query: tuple[str, ...]  # query parameters forwarded; every other one is dropped

    @property
    def has_body(self) -> bool:
        """Requests with a body are translated inbound before they are forwarded."""
        return self.method in ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class Elevation:
    """How an elevated group is held (rotational access): its holders act in it only under a grant.

    ``excludes`` is as written; the service closes it both ways. ``beyond`` is the
    standing group the review compares the elevated view with (None: the view of
    no group, the most restrictive).
    """

    max_seconds: int
    approvals: int
    approvers: tuple[str, ...]
    max_holders: int | None = None
    excludes: tuple[str, ...] = ()
    break_glass_seconds: int | None = None
    beyond: str | None = None


@dataclass(frozen=True)
class Reclassified:
    """A ``classification:`` entry of the mapping that says other than the schema there.

    The mapping wins, so an entry can make a field the schema marks ``pii`` count as
    ``internal``, and it then drops out of every list of personal data; the review
    shows each such entry beside what the schema says.
    """

    field: str  # the internal path as written
    schema: str | None  # the nearest x-classification on the path (None: unclassified)
    mapping: str

    def lowered(self, levels: Levels) -> bool:
        """Whether the mapping makes the field count as less sensitive than the schema does."""
        return _rank(levels.counts_as(self.mapping)) < _rank(levels.counts_as(self.schema))


_RANK: Final = {level: rank for rank, level in enumerate(BUILTIN_LEVELS, start=1)}


def _rank(level: str | None) -> int:
    """How sensitive a built-in level is (public 1 to secret 4; unclassified 0)."""
    return 0 if level is None else _RANK.get(level, 0)


@dataclass(frozen=True)
class ShimPlan:
    """The whole shim, built once by ``check`` from what it resolved; never changed after.

    Every stage that reads it (render, translate, review, diff, lint) sees the
    same plan; a variant for a test is ``dataclasses.replace(plan, ...)``.
    """

    name: str
    version: int
    owner: str
    description: str
    mapping_path: Path
    mapping_sha256: str
    internal: LoadedSchema
    external: LoadedSchema
    groups: Mapping[str, str]  # group -> description, in mapping order
    rules: tuple[Rule, ...] = ()  # what is generated: one rule per field
    entries: tuple[Rule, ...] = ()  # as written, defaults included
    levels: Levels = BUILTIN
    derived: tuple[Derived, ...] = ()
    upstream: Upstream | None = None
    routes: tuple[Route, ...] = ()
    elevated: Mapping[str, Elevation] = field(default_factory=dict)  # elevated group -> its rules
    tracking: Mapping[str, str] = field(default_factory=dict)  # kind -> effect (mapping)
    reclassified: tuple[Reclassified, ...] = ()  # classification: entries unlike the schema

    @property
    def views(self) -> list[View]:
        return [*self.groups, None]

    def context(self, rule: Rule) -> str:
        return f"{self.name}:{rule.context}"


def array_depth(path: Path_) -> int:
    return sum(1 for seg in path if seg == ARRAY)
