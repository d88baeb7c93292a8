"""Partial reveals: ``prefix``, ``last4``, ``mask`` and ``mask_email`` show part of a value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments.base import (
    REVEAL_LIMIT,
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
from shimgen.treatments.fit import Promise, lengths

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
        Sample({"type": "string"}, "NL91ABNA0417164300", {"prefix": REVEAL_LIMIT}),
    )
    runtime = "prefix"
    accepts = STR
    output_kind = Kind.STRING

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        if arg is None:
            raise TreatmentError("`prefix` needs a parameter", f"write `{self.example}`")
        return (("length", int_param(self.name, "length", arg, 1)),)

    def spec_schema(self) -> list[dict[str, Any]]:
        return [self.object_form({"type": "integer", "minimum": 1, "maximum": REVEAL_LIMIT})]

    def reveals(self, t: Treatment) -> int | None:
        return int(t.param("length"))

    def promise(self, t: Treatment, src: SchemaNode) -> Promise | None:
        return lengths(None, int(t.param("length")))

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

    def promise(self, t: Treatment, src: SchemaNode) -> Promise | None:
        return lengths(None, 4)  # fewer when the input is shorter

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return "_t.last4(v)"


@register
class Mask(TreatmentDef):
    """Masks the middle of a string, keeping characters at either end in clear.

    By default the output is as long as the input, so the shape of a value (a
    phone number) stays recognisable, and its length is told. ``length: N``
    gives every output exactly N characters instead: the same characters kept
    in clear, the run of mask characters between them resized, so that an IBAN
    or a card number no longer tells how long it is.
    """

    name = "mask"
    category = "masked"
    rank = 55
    summary = "masked"
    example = "{mask: {keep_last: 4}}"
    samples = (
        Sample({"type": "string"}, "+44 20 7946 0958", {"mask": {"keep_last": 4}}),
        Sample(
            {"type": "string"},
            "NL91ABNA0417164300",
            {"mask": {"keep_last": 4, "length": 12}},
        ),
        Sample({"type": "string"}, "SW1A 1AA", {"mask": {"keep_first": 2, "length": 6}}),
        Sample(
            {"type": "string"},
            "DE89370400440532013000",
            {"mask": {"keep_first": 2, "keep_last": 2, "length": 10, "char": "#"}},
        ),
    )
    runtime = "mask"
    options: ClassVar[Mapping[str, Any]] = {
        "keep_first": 0,
        "keep_last": 0,
        "char": "*",
        "length": 0,  # 0: as long as the input
    }
    accepts = STR
    output_kind = Kind.STRING

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        params = super().parse(arg)
        got = dict(params)
        kept = got["keep_first"] + got["keep_last"]
        if got["length"] and got["length"] <= kept:
            raise TreatmentError(
                f"`mask.length` ({got['length']}) must be greater than "
                f"keep_first + keep_last ({kept}): at least one character is masked",
                f"write `length: {kept + 1}` or more (the smallest that masks a character), "
                "or leave it out to keep the input's length",
            )
        return params

    def option(self, key: str, value: Any) -> Any:
        if key == "char":
            if not isinstance(value, str) or len(value) != 1:
                raise TreatmentError("`mask.char` must be one character", 'write `char: "*"`')
            return value
        return int_param(self.name, key, value, 0)

    def options_schema(self) -> dict[str, Any]:
        schema = super().options_schema()
        props = schema["properties"]
        # each end alone within the limit; their sum is checked on parsing
        props["keep_first"] |= {"minimum": 0, "maximum": REVEAL_LIMIT}
        props["keep_last"] |= {"minimum": 0, "maximum": REVEAL_LIMIT}
        props["char"] |= {"minLength": 1, "maxLength": 1}
        props["length"] |= {
            "minimum": 0,
            "description": "Every output has this many characters, whatever the input's "
            "length (0: as long as the input).",
        }
        return schema

    def reveals(self, t: Treatment) -> int | None:
        return int(t.param("keep_first", 0)) + int(t.param("keep_last", 0))

    def promise(self, t: Treatment, src: SchemaNode) -> Promise | None:
        length = int(t.param("length", 0))
        if length:
            return lengths(length, length)
        return lengths(src.limits.min_length, src.limits.max_length)  # as long as the input

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        first, last = int(t.param("keep_first", 0)), int(t.param("keep_last", 0))
        char, length = str(t.param("char", "*")), int(t.param("length", 0))
        if not length:
            return f"_t.mask(v, {first}, {last}, {char!r})"
        return fixed_length_mask(first, last, length, char)

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        ends = ("keep_first", "keep_last")
        deltas = [int(new.param(k, 0)) - int(old.param(k, 0)) for k in ends]
        if all(d >= 0 for d in deltas) and any(d > 0 for d in deltas):
            return 1, "the mask keeps more characters in clear"
        if all(d <= 0 for d in deltas) and any(d < 0 for d in deltas):
            return -1, "the mask keeps fewer characters in clear"
        if any(deltas):
            return 0, "the mask keeps more characters at one end and fewer at the other"
        was, now = int(old.param("length", 0)), int(new.param("length", 0))
        if was and not now:
            return 1, "the masked value now tells the input's length"
        if now and not was:
            return -1, "the masked value no longer tells the input's length"
        if was != now:
            return 0, f"the masked value is {now} characters long instead of {was}"
        return 0, "only the mask character changed"

    def versus(self, mine: Treatment, other: Treatment) -> tuple[int, str] | None:
        if other.name != "last4":
            return None
        kept = self.reveals(mine)
        fixed = bool(mine.param("length", 0))
        if int(mine.param("keep_last", 0)) >= 4 and (kept or 0) > 4:
            return 1, f"`{mine}` shows the last four characters and more"
        if int(mine.param("keep_last", 0)) >= 4 and not fixed:
            return 1, f"`{mine}` shows the last four characters and the length as well"
        if kept == 0:
            what = "nothing" if fixed else "only the length"
            return -1, f"`{mine}` shows {what}; `last4` shows four characters"
        return None


def fixed_length_mask(first: int, last: int, length: int, char: str) -> str:
    """The expression of ``mask`` with ``length``: always ``length`` characters.

    The characters kept in clear are the ones ``_t.mask(v, first, last)`` keeps
    on the same input, under its safety rule (at most ``len(v) // 2`` kept,
    ``keep_first`` given up first): ``keep_last`` keeps ``min(last, n // 2)``
    and ``keep_first`` what is left of ``min(first + last, n // 2)``. The mask
    run between them is resized so the output is ``length`` long. (Written
    inline so that no new run-time function is needed.)
    """
    pad = repr(char * length)
    tail = f"min({last}, len(v) // 2)"
    if first == 0 and last == 0:
        return pad
    if first == 0:
        return f"({pad} + v[len(v) - {tail} :])[-{length}:]"
    if last == 0:
        return f"(v[: min({first}, len(v) // 2)] + {pad})[:{length}]"
    head = f"min({first + last}, len(v) // 2) - {tail}"
    return f"(v[: {head}] + {pad})[: {length} - {tail}] + v[len(v) - {tail} :]"


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
