"""Treatments that send nothing of the value: ``redact``, ``null``, ``drop``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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
from shimgen.treatments.fit import Promise

DEFAULT_REDACTION = "[redacted]"

_ANY_SAMPLES = (Sample({"type": "string"}, "a secret"), Sample({"type": "integer"}, 7))


@register
class Redact(TreatmentDef):
    name = "redact"
    category = "redacted"
    rank = 80
    summary = "a constant"
    example = '{redact: "[hidden]"}'
    samples = _ANY_SAMPLES
    options: ClassVar[Mapping[str, Any]] = {"text": DEFAULT_REDACTION}
    output_kind = Kind.STRING
    raises = False
    checks_input = False

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        if arg is None:
            return (("text", DEFAULT_REDACTION),)
        if not isinstance(arg, str):
            raise TreatmentError("`redact` text must be a string", f"write `{self.example}`")
        return (("text", arg),)

    def spec_schema(self) -> list[dict[str, Any]]:
        return [{"const": self.name}, self.object_form({"type": "string"})]

    def fit(self, t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
        if dst.enum is not None and t.param("text") not in dst.enum:
            return "the redaction text is not in the external enum"
        return super().fit(t, src, dst)

    def promise(self, t: Treatment, src: SchemaNode) -> Promise | None:
        return Promise(values=(t.param("text"),))  # the one text, checked as it is

    def reveals(self, t: Treatment) -> int | None:
        return 0

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return repr(t.param("text"))

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        return 0, "only the replacement text changed"


@register
class Null(TreatmentDef):
    name = "null"
    category = "redacted"
    rank = 90
    summary = "null"
    example = '"null"'  # quoted: a bare null is YAML's no value
    samples = _ANY_SAMPLES
    output_kind = Kind.NULL
    raises = False
    checks_input = False

    def fit(self, t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
        ok = dst.nullable or dst.kind in (Kind.ANY, Kind.NULL)
        return None if ok else f"`null` yields null but the external field is {dst.describe()}"

    def reveals(self, t: Treatment) -> int | None:
        return 0

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return "None"


@register
class Drop(TreatmentDef):
    name = "drop"
    category = "dropped"
    rank = 100
    summary = "absent"
    example = "drop"
    samples = _ANY_SAMPLES
    emits = False
    raises = False

    def fit(self, t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
        return None

    def reveals(self, t: Treatment) -> int | None:
        return 0

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        raise AssertionError("`drop` emits no code: the field is not written")
