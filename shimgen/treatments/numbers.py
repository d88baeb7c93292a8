"""Numeric generalisations: ``round`` and ``bucket``."""

from __future__ import annotations

import itertools
from typing import Any

from shimgen.runtime.core.transforms import bucket_labels
from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments.base import (
    Emitter,
    Sample,
    Site,
    Treatment,
    TreatmentDef,
    TreatmentError,
    compare_ordered,
    int_param,
    register,
)
from shimgen.treatments.fit import Promise, scalar_fit

NUM = frozenset({Kind.INTEGER, Kind.NUMBER})


@register
class Round(TreatmentDef):
    name = "round"
    category = "generalised"
    rank = 40
    summary = "rounded number"
    example = "{round: 2}"
    samples = (
        Sample({"type": "number"}, 1234.5678, {"round": 2}),
        Sample({"type": "integer"}, 1234, {"round": -2}),
    )
    runtime = "round_to"
    accepts = NUM

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        if arg is None:
            raise TreatmentError(
                "`round` needs a parameter", "write `{round: 2}` (or -2 for hundreds)"
            )
        return (("digits", int_param(self.name, "digits", arg, -15, 15)),)

    def spec_schema(self) -> list[dict[str, Any]]:
        return [self.object_form({"type": "integer", "minimum": -15, "maximum": 15})]

    def fit(self, t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
        return scalar_fit(src.kind, None, dst)

    def reveals(self, t: Treatment) -> int | None:
        return None  # the leading digits; an already round value shows whole

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return f"_t.round_to(v, {t.param('digits')})"

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        return compare_ordered(
            old, new, "digits", "rounded to more digits", "rounded to fewer digits"
        )


@register
class Bucket(TreatmentDef):
    name = "bucket"
    category = "generalised"
    rank = 50
    summary = "range label"
    example = "{bucket: [0, 18, 65]}"
    samples = (Sample({"type": "integer"}, 42, {"bucket": [0, 18, 65]}),)
    runtime = "bucket"
    accepts = NUM
    output_kind = Kind.STRING

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        ok = (
            isinstance(arg, list)
            and arg
            and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in arg)
        )
        if arg is None:
            raise TreatmentError("`bucket` needs a parameter", f"write `{self.example}`")
        if not ok or any(a >= b for a, b in itertools.pairwise(arg)):
            raise TreatmentError(
                "`bucket` needs a list of increasing numbers", f"write `{self.example}`"
            )
        return (("bounds", tuple(arg)),)

    def spec_schema(self) -> list[dict[str, Any]]:
        return [self.object_form({"type": "array", "items": {"type": "number"}, "minItems": 1})]

    def reveals(self, t: Treatment) -> int | None:
        return 0  # a label built from the bounds, never from the value's characters

    def promise(self, t: Treatment, src: SchemaNode) -> Promise | None:
        return Promise(values=bucket_labels(t.param("bounds")))  # the labels, known exactly

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        bounds = em.const("bounds", repr(tuple(t.param("bounds"))))
        labels = em.const("labels", f"_t.bucket_labels({bounds})")
        return f"_t.bucket(v, {bounds}, {labels})"

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        a, b = set(old.param("bounds", ())), set(new.param("bounds", ()))
        if a < b:
            return 1, "finer buckets: every old range is split into narrower ones"
        if b < a:
            return -1, "coarser buckets: ranges are merged into wider ones"
        return 0, "the bucket bounds moved; neither set of ranges is finer than the other"
