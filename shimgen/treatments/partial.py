"""Partial reveals: ``prefix``, ``last4``, ``mask`` and ``mask_email`` show part of a value."""

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
    compare_ordered,
    int_param,
    register,
)

STR = frozenset({Kind.STRING})


@register
class Prefix(TreatmentDef):
    name = "prefix"
    category = "masked"
    rank = 50
    summary = "first N characters"
    example = "{prefix: 3}"
    samples = (
        Sample({"type": "string"}, "SW1A 1AA", {"prefix": 3}),
        Sample({"type": "string"}, "NL91ABNA0417164300", {"prefix": 12}),
    )
    runtime = "prefix"
    accepts = STR
    output_kind = Kind.STRING

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        if arg is None:
            raise TreatmentError("`prefix` needs a parameter", f"write `{self.example}`")
        return (("length", int_param(self.name, "length", arg, 1)),)

    def spec_schema(self) -> list[dict[str, Any]]:
        return [self.object_form({"type": "integer", "minimum": 1})]

    def reveals(self, t: Treatment) -> int | None:
        return int(t.param("length"))

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return f"_t.prefix(v, {t.param('length')})"

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        return compare_ordered(
            old, new, "length", "a longer prefix is shown", "a shorter prefix is shown"
        )


@register
class Last4(TreatmentDef):
    name = "last4"
    category = "masked"
    rank = 55
    summary = "last four characters"
    example = "last4"
    samples = (Sample({"type": "string"}, "4242424242424242"), Sample({"type": "integer"}, 123456))
    runtime = "last4"
    accepts = frozenset({Kind.STRING, Kind.INTEGER})
    output_kind = Kind.STRING

    def reveals(self, t: Treatment) -> int | None:
        return 4

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return "_t.last4(v)"


@register
class Mask(TreatmentDef):
    name = "mask"
    category = "masked"
    rank = 55
    summary = "masked"
    example = "{mask: {keep_last: 4}}"
    samples = (Sample({"type": "string"}, "+44 20 7946 0958", {"mask": {"keep_last": 4}}),)
    runtime = "mask"
    options: ClassVar[Mapping[str, Any]] = {"keep_first": 0, "keep_last": 0, "char": "*"}
    accepts = STR
    output_kind = Kind.STRING

    def option(self, key: str, value: Any) -> Any:
        if key == "char":
            if not isinstance(value, str) or len(value) != 1:
                raise TreatmentError("`mask.char` must be one character", 'write `char: "*"`')
            return value
        return int_param(self.name, key, value, 0)

    def options_schema(self) -> dict[str, Any]:
        schema = super().options_schema()
        props = schema["properties"]
        props["keep_first"] |= {"minimum": 0}
        props["keep_last"] |= {"minimum": 0}
        props["char"] |= {"minLength": 1, "maxLength": 1}
        return schema

    def reveals(self, t: Treatment) -> int | None:
        return int(t.param("keep_first", 0)) + int(t.param("keep_last", 0))

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return f"_t.mask(v, {t.param('keep_first')}, {t.param('keep_last')}, {t.param('char')!r})"

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        ends = ("keep_first", "keep_last")
        deltas = [int(new.param(k, 0)) - int(old.param(k, 0)) for k in ends]
        if all(d >= 0 for d in deltas) and any(d > 0 for d in deltas):
            return 1, "the mask keeps more characters in clear"
        if all(d <= 0 for d in deltas) and any(d < 0 for d in deltas):
            return -1, "the mask keeps fewer characters in clear"
        if any(deltas):
            return 0, "the mask keeps more characters at one end and fewer at the other"
        return 0, "only the mask character changed"

    def versus(self, mine: Treatment, other: Treatment) -> tuple[int, str] | None:
        if other.name != "last4":
            return None
        kept = self.reveals(mine)
        if int(mine.param("keep_last", 0)) >= 4:
            return 1, f"`{mine}` shows the last four characters and the length as well"
        if kept == 0:
            return -1, f"`{mine}` shows only the length; `last4` shows four characters"
        return None


@register
class MaskEmail(TreatmentDef):
    name = "mask_email"
    category = "masked"
    rank = 60
    summary = "j***@example.com"
    example = "mask_email"
    samples = (Sample({"type": "string", "format": "email"}, "jane.doe@example.com"),)
    runtime = "mask_email"
    accepts = STR
    output_kind = Kind.STRING

    def output(self, t: Treatment, src: SchemaNode) -> tuple[Kind | None, str | None]:
        # `j***@example.com` is a valid mailbox (`*` is atext in RFC 5322), so an
        # e-mail address stays one; any other string may come out as `***`.
        return Kind.STRING, ("email" if src.format == "email" else None)

    def reveals(self, t: Treatment) -> int | None:
        return 1  # the first character of the local part; the domain is shown by design

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        # Where the external field needs an e-mail address, a value that is not
        # one is refused (422) rather than sent as `***`.
        strict = site.out is not None and site.out.format == "email"
        return "_t.mask_email(v, True)" if strict else "_t.mask_email(v)"
