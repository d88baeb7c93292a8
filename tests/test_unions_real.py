"""Unions of the real Stripe schema, read in place through a small wrapper schema.

Stripe's expandable fields are ``anyOf: [string id, object]``; its payment
sources are unions of five objects, each with a distinct ``object`` constant.
Where every branch is fully typed a ``pass`` copies branch by branch; where a
branch is one of the excerpt's stubs (an object with no declared fields, so it
could hold anything) the checker refuses with the branch and its place named.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shimgen.check import check_mapping
from tests.expected import translator
from tests.test_real_schemas import real_dir  # noqa: F401  (fixture)

STRIPE = "stripe-customer-charge.openapi.json"
FIELDS = {
    "test_clock": "customer/properties/test_clock",
    "default_source": "customer/properties/default_source",
    "sources": "customer/properties/sources",
    "charge_customer": "charge/properties/customer",
}


def mapping(tmp: Path, real: Path, treats: dict[str, str]) -> Path:
    props = {
        name: {"$ref": f"{real / STRIPE}#/components/schemas/{pointer}"}
        for name, pointer in FIELDS.items()
    }
    (tmp / "stripe.json").write_text(json.dumps({"type": "object", "properties": props}))
    lines = [
        "shim: stripe-unions",
        "version: 1",
        "owner: tests",
        "description: Stripe unions",
        "internal: {schema: stripe.json}",
        "external: {schema: stripe.json}",
        "fields:",
        *(f"  {k}: {treats.get(k, 'drop')}" for k in FIELDS),
    ]
    path = tmp / "stripe.shim.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_expandable_field_copies_the_id_or_the_declared_fields(
    tmp_path: Path,
    real_dir: Path,  # noqa: F811
) -> None:
    result = check_mapping(mapping(tmp_path, real_dir, {"test_clock": "pass"}))
    assert result.plan is not None, [f.format() for f in result.findings]
    clock = {
        "id": "clock_1",
        "object": "test_helpers.test_clock",
        "created": 1,
        "deletes_after": 2,
        "frozen_time": 3,
        "livemode": False,
        "status": "ready",
        "internal_note": "never leaves",
    }
    with translator(result.plan) as mod:
        assert mod.to_external({"test_clock": "clock_1"}) == {"test_clock": "clock_1"}
        out = mod.to_external({"test_clock": clock})
        assert out == {"test_clock": {k: v for k, v in clock.items() if k != "internal_note"}}
        with pytest.raises(ValueError) as err:
            mod.to_external({"test_clock": {**clock, "status": "paused"}})
        assert [p.pointer for p in err.value.problems] == ["/test_clock/status"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ("default_source", ("<card>.recipient", "recipient")),
        ("sources", ("data[]<card>.recipient", "recipient")),
        ("charge_customer", ("<customer>.discount.promotion_code", "promotion_code")),
    ],
)
def test_union_with_a_stub_branch_is_refused_with_the_branch_named(
    tmp_path: Path,
    real_dir: Path,  # noqa: F811
    field: str,
    named: tuple[str, ...],
) -> None:
    path = mapping(tmp_path, real_dir, {field: "pass"})
    result = check_mapping(path)
    assert result.plan is None
    line = 8 + list(FIELDS).index(field)
    found = [f for f in result.findings if f.line == line]
    assert [f.code.value for f in found] == ["SG107"], [f.format() for f in result.findings]
    for text in named:
        assert text in found[0].message


def test_a_union_with_a_string_branch_can_be_redacted(
    tmp_path: Path,
    real_dir: Path,  # noqa: F811
) -> None:
    result = check_mapping(mapping(tmp_path, real_dir, {"default_source": "redact"}))
    assert result.plan is not None, [f.format() for f in result.findings]
