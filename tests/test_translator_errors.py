"""Error paths of generated translators: JSON pointers, and never a value in a message."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.expected import plan_of, translator


@pytest.fixture(scope="module")
def customer() -> Iterator[ModuleType]:
    with translator(plan_of("customer")) as mod:
        yield mod


@pytest.fixture(scope="module")
def orders() -> Iterator[ModuleType]:
    with translator(plan_of("orders")) as mod:
        yield mod


def _pointers(mod: ModuleType, record: Any, group: str | None, inbound: bool = False) -> list[str]:
    fn = mod.to_internal if inbound else mod.to_external
    with pytest.raises(ValueError) as err:
        fn(record, group)
    assert "SECRET-VALUE" not in str(err.value)
    return [p.pointer for p in err.value.problems]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("record", "pointer"),
    [
        ({"cards": [{"number": "4111111111111111"}, {"number": 41}]}, "/cards/1/number"),
        ({"cards": [{"number": "4111111111111111"}, "SECRET-VALUE"]}, "/cards/1"),
        ({"cards": "SECRET-VALUE"}, "/cards"),
        ({"name": "SECRET-VALUE"}, "/name"),
        ({"name": {"given": ["SECRET-VALUE"]}}, "/name/given"),
        ({"status": "SECRET-VALUE"}, "/status"),
        ({"status": ["unhashable"]}, "/status"),
        ({"birth_date": "SECRET-VALUE"}, "/birth_date"),
        ({"id": 12}, "/id"),
    ],
)
def test_outbound_errors_point_at_the_field(
    customer: ModuleType, record: dict[str, Any], pointer: str
) -> None:
    assert _pointers(customer, record, "billing") == [pointer]


def test_nested_array_items_point_at_both_indexes(orders: ModuleType) -> None:
    record = {"lines": [{"sku": "a", "discounts": []}, {"sku": "b", "discounts": [{"code": 7}]}]}
    assert _pointers(orders, record, "accounting") == ["/lines/1/discounts/0/code"]


def test_inbound_lists_every_problem(customer: ModuleType) -> None:
    payload = {
        "customerId": "SECRET-VALUE",
        "status": "SECRET-VALUE",
        "ssn": "SECRET-VALUE",
        "contact": {},
    }
    assert sorted(_pointers(customer, payload, "support", inbound=True)) == [
        "/contact",
        "/customerId",
        "/ssn",
        "/status",
    ]


def test_inbound_null_and_type_errors(customer: ModuleType) -> None:
    assert _pointers(customer, {"customerId": None}, "support", inbound=True) == ["/customerId"]
    assert _pointers(customer, {"customerId": 5}, "support", inbound=True) == ["/customerId"]
    assert _pointers(customer, ["SECRET-VALUE"], "support", inbound=True) == ["/"]


def test_unknown_group_is_refused(customer: ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown functional group"):
        customer.to_external({}, "admin")
    with pytest.raises(ValueError, match="unknown functional group"):
        customer.to_internal({}, "admin")


def test_no_group_gets_the_strictest_view(customer: ModuleType) -> None:
    record = {"email": "jana@example.com", "cards": [{"number": "4111111111111111", "cvv": "123"}]}
    out = customer.to_external(record, None)
    assert out["contact"]["email"] == "j***@example.com"  # support passes it, billing masks it
    assert "paymentMethods" not in out  # support drops cards
