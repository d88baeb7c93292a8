"""Keyed treatments: ``tokenize`` (reversible by the shim) and ``hash`` (one way).

Both call the keyset (``ks``) of the generated module, bound to the field's
context so a token of one field never detokenizes as another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments.base import (
    PY_TYPES,
    Emitter,
    Sample,
    Site,
    Treatment,
    TreatmentDef,
    compare_ordered,
    int_param,
    register,
)
from shimgen.treatments.fit import Promise, lengths

DEFAULT_HASH_LENGTH = 32


@register
class Tokenize(TreatmentDef):
    name = "tokenize"
    category = "tokenized"
    rank = 10
    summary = "AES-SIV token, reversible by the shim"
    example = "tokenize"
    samples = (Sample({"type": "string"}, "cus_0001"), Sample({"type": "integer"}, 1234))
    accepts = frozenset({Kind.STRING, Kind.INTEGER})
    output_kind = Kind.STRING
    reversible = True
    needs_keys = True

    def reveals(self, t: Treatment) -> int | None:
        return 0

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return f"ks.tokenize(v, {site.context})"

    def inbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return (
            f"_s.need(ks.detokenize(_s.need(v, (str,), 'a token'), {site.context}), "
            f"{PY_TYPES[site.node.kind]}, 'a token of this field')"
        )


@register
class Hash(TreatmentDef):
    name = "hash"
    category = "hashed"
    rank = 70
    summary = "keyed HMAC-SHA-256 pseudonym"
    example = "{hash: {length: 16}}"
    samples = (Sample({"type": "string"}, "jane@example.com"), Sample({"type": "number"}, 2.5))
    options: ClassVar[Mapping[str, Any]] = {"length": DEFAULT_HASH_LENGTH}
    accepts = frozenset({Kind.STRING, Kind.INTEGER, Kind.NUMBER})
    output_kind = Kind.STRING
    needs_keys = True

    def option(self, key: str, value: Any) -> Any:
        return int_param(self.name, key, value, 8, 64)

    def options_schema(self) -> dict[str, Any]:
        schema = super().options_schema()
        schema["properties"]["length"] |= {"minimum": 8, "maximum": 64}
        return schema

    def reveals(self, t: Treatment) -> int | None:
        return 0

    def promise(self, t: Treatment, src: SchemaNode) -> Promise | None:
        length = int(t.param("length"))  # that many lowercase hex digits
        return lengths(length, length)

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return f"ks.hash(v, {site.context}, {t.param('length')})"

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        return compare_ordered(
            old,
            new,
            "length",
            "a longer pseudonym: fewer collisions, so records link up more reliably",
            "a shorter pseudonym: more collisions, so records link up less reliably",
        )
