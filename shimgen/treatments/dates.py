"""Date generalisations: ``year``, ``month`` and ``truncate``.

They apply to strings that hold dates: ``format: date`` or ``date-time``, or
a ``pattern`` that behaves like a date's (FHIR ``date``, ``dateTime``,
``instant``; see :mod:`shimgen.schema.datelike`). Where that pattern allows
partial dates (``1974``, ``1974-12``) the generated call parses them too; a
value that does not parse is refused with its JSON pointer (422 in the
service, a per-line error offline).
"""

from __future__ import annotations

from typing import Any

from shimgen.schema.datelike import allows_partial, date_shapes
from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments.base import (
    Emitter,
    Sample,
    Site,
    Treatment,
    TreatmentDef,
    TreatmentError,
    register,
)
from shimgen.treatments.fit import Promise, lengths

STR = frozenset({Kind.STRING})
UNITS = ("year", "month", "day", "hour", "minute")
"""``truncate`` units, coarsest first."""

FHIR_DATE = (
    r"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
    r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$"
)
"""FHIR R4's ``date`` pattern (partial dates allowed), for the samples."""


def resolution(t: Treatment) -> int:
    """How fine a date treatment keeps the value: 1 year ... 5 minute."""
    if t.name == "truncate":
        return UNITS.index(t.param("unit")) + 1
    return {"year": 1, "month": 2}[t.name]


def _partial(site: Site) -> str:
    return ", True" if allows_partial(site.node) else ""


class DateTreatment(TreatmentDef):
    """Shared rules: applies to date-holding strings; compared by resolution."""

    category = "generalised"
    rank = 50
    accepts = STR

    def applicable(self, t: Treatment, src: SchemaNode) -> str | None:
        reason = super().applicable(t, src)
        if reason is None and not date_shapes(src):
            reason = (
                f"`{t.name}` needs a string with format date or date-time "
                f"(or a date-like pattern), not {src.describe()}"
            )
        return reason

    def versus(self, mine: Treatment, other: Treatment) -> tuple[int, str] | None:
        if other.name not in ("year", "month", "truncate"):
            return None
        a, b = resolution(mine), resolution(other)
        if a == b:
            return 0, f"`{mine}` and `{other}` keep the date to the same {UNITS[a - 1]}"
        finer = mine if a > b else other
        unit, coarse = UNITS[max(a, b) - 1], UNITS[min(a, b) - 1]
        why = f"`{finer}` keeps the {unit} of the date as well as the {coarse}"
        return (1 if a > b else -1), why


@register
class Year(DateTreatment):
    name = "year"
    summary = "year of a date"
    example = "year"
    samples = (
        Sample({"type": "string", "format": "date"}, "1974-12-25"),
        Sample({"type": "string", "pattern": FHIR_DATE}, "1974"),
    )
    runtime = "year"
    output_kind = Kind.INTEGER

    def reveals(self, t: Treatment) -> int | None:
        return 4

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return f"_t.year(v{_partial(site)})"


@register
class Month(DateTreatment):
    name = "month"
    summary = "YYYY-MM of a date"
    example = "month"
    samples = (
        Sample({"type": "string", "format": "date-time"}, "2024-03-17T10:22:05Z"),
        Sample({"type": "string", "pattern": FHIR_DATE}, "1974-12"),
    )
    runtime = "month"
    output_kind = Kind.STRING

    def reveals(self, t: Treatment) -> int | None:
        return 7

    def promise(self, t: Treatment, src: SchemaNode) -> Promise | None:
        shortest = 4 if allows_partial(src) else 7  # `1974` stays as it is
        return lengths(shortest, 7)

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return f"_t.month(v{_partial(site)})"


@register
class Truncate(DateTreatment):
    """Start of the year, month, day, hour or minute, in the input's own type and format."""

    name = "truncate"
    summary = "the date or date-time at the start of its year, month, day, hour or minute"
    example = "{truncate: month}"
    samples = (
        Sample(
            {"type": "string", "format": "date-time"},
            "2024-03-17T10:22:05+02:00",
            {"truncate": "month"},
        ),
        Sample({"type": "string", "format": "date"}, "2024-03-17", {"truncate": "year"}),
        Sample({"type": "string", "pattern": FHIR_DATE}, "1974-12", {"truncate": "year"}),
    )
    runtime = "truncate"

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        if arg not in UNITS:
            raise TreatmentError(
                f"`truncate` needs a unit: {', '.join(UNITS)}", f"write `{self.example}`"
            )
        return (("unit", arg),)

    def spec_schema(self) -> list[dict[str, Any]]:
        return [self.object_form({"enum": list(UNITS)})]

    def label(self, t: Treatment) -> str:
        return f"truncate({t.param('unit')})"

    def applicable(self, t: Treatment, src: SchemaNode) -> str | None:
        reason = super().applicable(t, src)
        finer_than_month = UNITS.index(t.param("unit")) >= 2
        if reason is None and finer_than_month and "date-time" not in date_shapes(src):
            return (
                f"`{t}` leaves a date whole: {src.describe()} has no time; "
                "truncate it to `year` or `month`"
            )
        return reason

    def output(self, t: Treatment, src: SchemaNode) -> tuple[Kind | None, str | None]:
        # The result has the input's shape: its format, or the one format its
        # date-like pattern stands for (FHIR `instant` is always a date-time).
        shapes = date_shapes(src)
        fmt = src.format or (next(iter(shapes)) if len(shapes) == 1 else None)
        return Kind.STRING, fmt

    def fit(self, t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
        reason = super().fit(t, src, dst)
        if reason is None and dst.kind is Kind.STRING and dst.format is None and dst.pattern:
            wanted, have = date_shapes(dst), date_shapes(src)
            if wanted and not have <= wanted:
                shown = ", ".join(sorted(have - wanted))
                return f"`{t}` keeps the shape of its input ({shown}), which the external pattern refuses"
        return reason

    def reveals(self, t: Treatment) -> int | None:
        # The date up to the unit, verbatim; the zeroed tail equals the input's
        # when the input is already at the start of its unit, so the whole value
        # can show.
        return None

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        order = ("year", "year-month", "date", "date-time")
        shapes = tuple(s for s in order if s in date_shapes(site.node))
        return f"_t.truncate(v, {t.param('unit')!r}, {shapes!r})"

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        sign, why = self.versus(new, old) or (0, "")
        return sign, why
