"""Unions of the real Stripe schema, read in place through a small wrapper schema.

Stripe's expandable fields are ``anyOf: [string id, object]``; its payment
sources are unions of five objects, each with a distinct ``object`` constant.
A ``pass`` copies branch by branch; a branch that is one of the excerpt's stubs
(an object with no declared fields) takes the objects no other branch claims,
and its copy is ``{}``: nothing it holds is declared, so nothing crosses.
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


CUSTOMER = {"id": "cus_1", "object": "customer", "created": 1, "livemode": False}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "default_source",
            {"object": "card", "id": "card_1", "last4": "4242", "recipient": {"n": "x"}, "u": 1},
            {"object": "card", "id": "card_1", "last4": "4242", "recipient": {}},
        ),
        (
            "default_source",
            {"object": "card", "id": "card_1", "recipient": "rp_1"},
            {"object": "card", "id": "card_1", "recipient": "rp_1"},
        ),
        (
            "sources",
            {"data": [{"object": "card", "id": "c", "recipient": {"x": 1}, "u": 2}], "u": 1},
            {"data": [{"object": "card", "id": "c", "recipient": {}}]},
        ),
        (
            "charge_customer",
            {**CUSTOMER, "discount": {"promotion_code": {"code": "x"}, "u": 1}},
            {**CUSTOMER, "discount": {"promotion_code": {}}},
        ),
    ],
)
def test_a_stub_branch_is_copied_as_an_empty_object(
    tmp_path: Path,
    real_dir: Path,  # noqa: F811
    field: str,
    value: dict[str, object],
    expected: dict[str, object],
) -> None:
    """The excerpt's stubs declare no field: whatever they hold stays inside (deny by default)."""
    result = check_mapping(mapping(tmp_path, real_dir, {field: "pass"}))
    assert result.plan is not None, [f.format() for f in result.findings]
    with translator(result.plan) as mod:
        assert mod.to_external({field: value}) == {field: expected}


def test_a_union_with_a_string_branch_can_be_redacted(
    tmp_path: Path,
    real_dir: Path,  # noqa: F811
) -> None:
    result = check_mapping(mapping(tmp_path, real_dir, {"default_source": "redact"}))
    assert result.plan is not None, [f.format() for f in result.findings]
