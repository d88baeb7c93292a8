"""``pass``: the value itself crosses, checked against the internal schema."""

from __future__ import annotations

from shimgen.check import unions
from shimgen.schema.model import SCALARS, Kind, SchemaNode
from shimgen.treatments.base import (
    PY_TYPES,
    WHAT,
    Emitter,
    Sample,
    Site,
    Treatment,
    TreatmentDef,
    register,
    set_literal,
)
from shimgen.treatments.fit import pass_fit


@register
class Pass(TreatmentDef):
    name = "pass"
    category = "passed"
    rank = 0
    summary = "the value"
    example = "pass"
    samples = (
        Sample({"type": "string"}, "kept as it is"),
        Sample({"type": "integer"}, 42),
        Sample({"type": "object", "properties": {"a": {"type": "string"}}}, {"a": "x"}),
    )
    reversible = True
    copies = True
    raises = False

    def reveals(self, t: Treatment) -> int | None:
        return None

    def applicable(self, t: Treatment, src: SchemaNode) -> str | None:
        return unions.copy_refusal(src)  # every union inside the copy can find its branch

    def fit(self, t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
        return pass_fit(src, dst)

    def input_check(self, t: Treatment, em: Emitter, node: SchemaNode) -> str:
        cond = super().input_check(t, em, node)
        if cond and node.enum is not None:
            cond += f" or v not in {em.const('enum', set_literal(node.enum))}"
        if unions.scalar_only(node):  # other unions: their copy function checks
            kinds = sorted(
                {
                    k
                    for v in unions.flatten(node)
                    for k in PY_TYPES[v.kind].strip("(),").split(", ")
                    if k
                }
            )
            return f"v.__class__ not in ({', '.join(kinds)},)"
        return cond

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        node, out = site.node, site.out
        if node.kind in SCALARS or unions.scalar_only(node):
            to_text = node.kind is Kind.INTEGER and out is not None and out.kind is Kind.STRING
            return "str(v)" if to_text else "v"
        return f"{em.copier(node, out)}(v, {site.where})"

    def inbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        node, out = site.node, site.out
        if node.kind is Kind.ARRAY and node.items is not None and node.items.kind in SCALARS:
            return f"_s.need_list(v, {PY_TYPES[node.items.kind]}, {WHAT[node.items.kind]!r})"
        assert node.kind in SCALARS, node.kind
        if node.kind is Kind.INTEGER and out is not None and out.kind is Kind.STRING:
            expr = "_s.to_int(v)"
        else:
            expr = f"_s.need(v, {PY_TYPES[node.kind]}, {WHAT[node.kind]!r})"
        if node.enum is not None:
            expr = f"_s.member({expr}, {em.const('enum', set_literal(node.enum))})"
        return expr
