"""The review report as data: everything a security reviewer sees, nothing else.

The report is built only from a :class:`~shimgen.check.CheckResult` (its
:class:`~shimgen.check.plan.ShimPlan` and warnings), never from the YAML text,
so it says what the generated shim will actually do. Every value here is a
plain string, number or tuple: the templates in ``templates/review/`` only lay
it out, and the same model feeds both the Markdown and the HTML report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shimgen import __version__
from shimgen.check import CheckResult
from shimgen.check.plan import Derived, Rule, ShimPlan, View
from shimgen.check.unions import Dispatch, carried, copied_unions, dispatch, label
from shimgen.diagnostics import Severity, some_of
from shimgen.mapping.model import FieldRule
from shimgen.render.servicespec import sends
from shimgen.review.elevation import ElevationRow, elevation_rows
from shimgen.review.routes import RouteRow, route_rows, upstream_text
from shimgen.review.tracking import TrackingRow, tracking_rows
from shimgen.schema.model import LoadedSchema, Path_, format_path
from shimgen.treatments import CATEGORIES as TREATMENT_CATEGORIES
from shimgen.treatments import REGISTRY, Treatment

NO_GROUP = "no group"


# Plain-language categories, least revealing last, each with the treatments
# that declare it (``shimgen.treatments``). The summary counts fields by
# category; the badges in the matrix are coloured by it. Read from the
# registry when a report is built, so every registered treatment has one.
def categories() -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """(category, its treatment names in rank order, meaning), least revealing last."""
    return tuple(
        (cat, tuple(n for n, d in REGISTRY.items() if d.category == cat), meaning)
        for cat, meaning in TREATMENT_CATEGORIES
    )


@dataclass(frozen=True)
class SchemaInfo:
    path: str  # as written in the mapping (relative to it)
    model: str
    sha256: str


@dataclass(frozen=True)
class ViewInfo:
    """A matrix column: a functional group, or the no-group view."""

    name: str  # group name, or NO_GROUP
    description: str


@dataclass(frozen=True)
class Cell:
    """What one view receives of one internal field."""

    treatment: str  # readable, e.g. ``mask(keep_last=4)``
    category: str  # one of categories()
    external: str  # external path, "" when dropped
    inbound: bool  # external callers in this view may send the field back


@dataclass(frozen=True)
class FieldRow:
    internal: str
    classification: str  # pii, secret, ``confidential (pii)`` for a declared level, or ""
    default: str  # the field's own treat:
    cells: tuple[Cell, ...]  # one per view, in Report.views order
    why: str
    scope: str = ""  # more specific wins: what a default governs, or which default this overrides


@dataclass(frozen=True)
class CountRow:
    category: str
    meaning: str
    treatments: str  # the treatment names in this category
    by_default: int
    by_view: tuple[int, ...]  # in Report.views order


@dataclass(frozen=True)
class Override:
    internal: str
    group: str
    default: str
    treatment: str
    looser: bool  # the group sees more than the default


@dataclass(frozen=True)
class DerivedRow:
    external: str
    reads: tuple[str, ...]  # internal paths; empty for a constant
    how: str  # ``template "{0} {1}"`` or ``constant 'eu'``
    emitted: tuple[bool, ...]  # per view
    why: str
    sensitive_reads: tuple[str, ...]  # the pii/secret fields among ``reads``


@dataclass(frozen=True)
class InboundRow:
    external: str
    internal: str
    treatment: str  # how the value is turned back, per the default treatment
    views: tuple[str, ...]  # views in which callers may send it


@dataclass(frozen=True)
class Justification:
    subject: str  # internal path, or external path of a derived field
    kind: str  # "why" or "note"
    text: str


@dataclass(frozen=True)
class UnionRow:
    """A oneOf/anyOf that a ``pass`` copies: what may leave, and how its branch is found."""

    internal: str  # the mapped field
    at: str  # where the union is inside the copied value ("" for the field itself)
    branches: tuple[str, ...]
    how: str  # e.g. "by the fields each branch requires"
    tag: str  # the field whose value names the branch, "" if none does


@dataclass(frozen=True)
class GlossaryRow:
    treatment: str
    category: str
    meaning: str
    reversible: bool


@dataclass(frozen=True)
class ReclassRow:
    """A field whose classification the mapping sets unlike its schema (``classification:``)."""

    internal: str
    schema: str  # as the schema says, ``confidential (pii)`` for a declared level; "" if none
    mapping: str
    lowered: bool  # the field now counts as less sensitive: it may leave the pii/secret lists


@dataclass(frozen=True)
class Report:
    name: str
    version: int
    owner: str
    description: str
    mapping_path: str
    mapping_sha256: str
    internal: SchemaInfo
    external: SchemaInfo
    shimgen_version: str
    views: tuple[ViewInfo, ...]
    counts: tuple[CountRow, ...]
    total_fields: int
    overrides: tuple[Override, ...]
    sensitive: tuple[FieldRow, ...]  # pii and secret fields only
    fields: tuple[FieldRow, ...]
    derived: tuple[DerivedRow, ...]
    inbound: tuple[InboundRow, ...]
    routes: tuple[RouteRow, ...]
    upstream: str  # "" without routes
    justifications: tuple[Justification, ...]
    unions: tuple[UnionRow, ...]  # unions copied by ``pass``, branch by branch
    unjustified: tuple[str, ...]  # pii/secret fields leaving in some view without why:
    glossary: tuple[GlossaryRow, ...]
    warnings: tuple[str, ...]
    elevated: tuple[ElevationRow, ...] = ()  # what each elevated group exposes, and how it is held
    tracking: tuple[TrackingRow, ...] = ()  # what each detection does (tracking:)
    reclassified: tuple[ReclassRow, ...] = ()  # classification: entries unlike the schema


def build_report(result: CheckResult) -> Report:
    """The report of a mapping that checked without errors."""
    plan = result.plan
    if plan is None:
        raise ValueError("a mapping with errors has no review report; run `shimgen check`")
    views = plan.views
    entries = plan.entries  # as written: a default once, with its exceptions, not field by field
    defaults = {e.internal: e for e in plan.entries if e.is_default}
    inside = [_copied_sensitive(rule) for rule in entries]  # one walk of each copy
    rows = tuple(
        _field_row(plan, rule, defaults, carried_here)
        for rule, carried_here in zip(entries, inside, strict=True)
    )
    return Report(
        name=plan.name,
        version=plan.version,
        owner=plan.owner,
        description=plan.description.strip(),
        mapping_path=str(plan.mapping_path),
        mapping_sha256=plan.mapping_sha256,
        internal=_schema(plan, plan.internal),
        external=_schema(plan, plan.external),
        shimgen_version=__version__,
        views=tuple(
            ViewInfo(v, plan.groups[v])
            if v is not None
            else ViewInfo(
                NO_GROUP,
                "not a caller's group: the service refuses a request that names no group;"
                " this column shows the strictest treatment any group gets (what"
                " shimgen translate gives without --group)",
            )
            for v in views
        ),
        counts=_counts(plan),
        total_fields=len(entries),
        overrides=tuple(
            Override(
                rule.key,
                group,
                str(rule.treat),
                str(treat),
                treat.rank < rule.treat.rank,
            )
            for rule in entries
            for group, treat in rule.groups.items()
        ),
        sensitive=tuple(
            row
            for row, rule, carried_here in zip(rows, entries, inside, strict=True)
            if rule.sensitive or carried_here
        ),
        fields=rows,
        derived=tuple(_derived_row(plan, d) for d in plan.derived),
        inbound=_inbound(plan),
        routes=tuple(route_rows(plan)),
        upstream=upstream_text(plan),
        justifications=_justifications(result, plan),
        unions=_unions(plan),
        unjustified=tuple(
            rule.label
            for rule in plan.rules
            if rule.sensitive and not rule.why and any(rule.treatment(v).emits for v in views)
        ),
        glossary=_glossary(plan),
        warnings=tuple(f.format() for f in result.findings if f.severity is Severity.WARNING),
        elevated=elevation_rows(plan, NO_GROUP),
        tracking=tracking_rows(plan),
        reclassified=tuple(
            ReclassRow(
                r.field,
                plan.levels.shown(r.schema),
                plan.levels.shown(r.mapping),
                r.lowered(plan.levels),
            )
            for r in plan.reclassified
        ),
    )


def _schema(plan: ShimPlan, schema: LoadedSchema) -> SchemaInfo:
    """The schema's path the way the header shows the mapping's: from where review was run
    (the mapping's path as given, joined with the schema's path from the mapping's folder),
    so the reader opens both from one folder (they were shown from two, a new user found)."""
    from_mapping = os.path.relpath(schema.path.resolve(), plan.mapping_path.resolve().parent)
    shown = os.path.normpath(os.path.join(os.path.dirname(str(plan.mapping_path)), from_mapping))
    return SchemaInfo(Path(shown).as_posix(), schema.model or "(document root)", schema.sha256)


def _cell(rule: Rule, view: View) -> Cell:
    treat = rule.treatment(view)
    return Cell(
        str(treat),
        REGISTRY[treat.name].category,
        format_path(rule.external) if treat.emits else "",
        sends(rule, view),  # the one inbound rule, as the translator and service read it
    )


def _copied_sensitive(rule: Rule) -> list[str]:
    """The pii/secret fields inside a field some view copies whole (``name``: ``given (pii)``).

    A ``pass`` of an object carries its fields' classifications with it; the
    report names them so a copy of a record that holds a secret is not shown as
    an unclassified field (a schema change can add one under an unchanged line).
    """
    if rule.is_default or not rule.carries_sensitive:  # a classified object too: what is inside
        return []
    if not any(t.definition.copies for t in (rule.treat, *rule.groups.values())):
        return []
    return [
        f"{p} ({rule.levels.shown(n.classification)})"
        for p, n in carried(rule.in_node).items()
        if rule.levels.sensitive(n.classification)
    ]


def _field_row(
    plan: ShimPlan, rule: Rule, defaults: dict[Path_, Rule], inside: list[str]
) -> FieldRow:
    """``inside``: the pii/secret fields a whole copy of the field carries (_copied_sensitive)."""
    own = plan.levels.shown(rule.classification)
    carries = f"carries {some_of(inside, 4)}" if inside else ""
    return FieldRow(
        rule.key,
        "; ".join(x for x in (own, carries) if x),
        str(rule.treat),
        tuple(_cell(rule, v) for v in plan.views),
        rule.why or "",
        _scope(rule, defaults),
    )


def _scope(rule: Rule, defaults: dict[Path_, Rule]) -> str:
    """More specific wins, in words: a default's reach and exceptions, or an exception's default.

    ``defaults`` maps each default entry's internal path to it; the nearest one
    enclosing ``rule`` is its longest strict prefix found there.
    """
    if rule.is_default:
        n = len(rule.remainder)
        fields = f"the {n} other field{'s' if n != 1 else ''}" if n else "no other field"
        return (
            f"default for {fields} under it now, and any the schema adds later; "
            f"exceptions: {', '.join(rule.exceptions)}"
        )
    for end in range(len(rule.internal) - 1, 0, -1):
        nearest = defaults.get(rule.internal[:end])
        if nearest is not None:
            return f"exception to the default of {nearest.key}"
    return ""


def _counts(plan: ShimPlan) -> tuple[CountRow, ...]:
    def count(category: str, pick: list[Treatment]) -> int:
        return sum(1 for t in pick if t.definition.category == category)

    defaults = [r.treat for r in plan.entries]
    per_view = [[r.treatment(v) for r in plan.entries] for v in plan.views]
    return tuple(
        CountRow(
            cat,
            meaning,
            ", ".join(names),
            count(cat, defaults),
            tuple(count(cat, treats) for treats in per_view),
        )
        for cat, names, meaning in categories()
    )


def _derived_row(plan: ShimPlan, d: Derived) -> DerivedRow:
    sensitive = {r.internal for r in plan.rules if r.sensitive}  # field by field
    how = (
        "number of items"
        if d.count
        else f"template {d.template!r}"
        if d.template is not None
        else f"constant {d.const!r}"
    )
    return DerivedRow(
        format_path(d.external),
        tuple(format_path(s) for s in d.sources),
        how,
        tuple(d.emitted(v) for v in plan.views),
        d.why or "",
        tuple(format_path(s) for s in d.sources if s in sensitive),
    )


def _inbound(plan: ShimPlan) -> tuple[InboundRow, ...]:
    rows = []
    for rule in plan.rules:
        if not rule.inbound:
            continue
        views = [v for v in plan.views if _cell(rule, v).inbound]
        rows.append(
            InboundRow(
                format_path(rule.external),
                rule.label,
                str(rule.treat),
                tuple(NO_GROUP if v is None else v for v in views),
            )
        )
    return tuple(rows)


def _justifications(result: CheckResult, plan: ShimPlan) -> tuple[Justification, ...]:
    """Every ``why:`` (and field ``description:``), in mapping order."""
    specs = result.loaded.mapping.fields if result.loaded.mapping is not None else {}
    out: list[Justification] = []
    for rule in plan.entries:
        if rule.why:
            out.append(Justification(rule.key, "why", rule.why))
        spec = specs.get(rule.key)
        if isinstance(spec, FieldRule) and spec.description:
            out.append(Justification(rule.key, "note", spec.description))
    derived = result.loaded.mapping.derived if result.loaded.mapping is not None else {}
    for d in plan.derived:
        if d.why:
            out.append(Justification(format_path(d.external), "why", d.why))
        spec_d = derived.get(d.name)
        if spec_d is not None and spec_d.description:
            out.append(Justification(format_path(d.external), "note", spec_d.description))
    return tuple(out)


def _unions(plan: ShimPlan) -> tuple[UnionRow, ...]:
    """Each union a ``pass`` in some view copies, where it is, and its branches."""
    rows: list[UnionRow] = []
    for rule in plan.rules:
        if not any(rule.treatment(v).name == "pass" for v in plan.views):
            continue
        for at, node in copied_unions(rule.in_node):
            d = dispatch(node)
            if isinstance(d, Dispatch):
                branches = tuple(label(b) for b in d.branches)
                rows.append(UnionRow(rule.key, at, branches, d.how, d.tag or ""))
    return tuple(rows)


def _glossary(plan: ShimPlan) -> tuple[GlossaryRow, ...]:
    used: dict[str, Treatment] = {}
    for rule in plan.entries:
        for t in (rule.treat, *rule.groups.values()):
            used.setdefault(t.name, t)
    order = list(REGISTRY)
    return tuple(
        GlossaryRow(name, REGISTRY[name].category, REGISTRY[name].summary, t.reversible)
        for name, t in sorted(used.items(), key=lambda item: order.index(item[0]))
    )
