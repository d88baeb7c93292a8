"""One rule decides which fields a view may send inbound; every product of generation obeys it.

``shimgen.render.servicespec.sends`` is the rule (opted in, emitted and reversible for the
view). The generated translator, the OpenAPI ``InboundPayload``, the service's ``fields_in``
and the README's inbound column used to compute it each on their own; the README read the
raw ``inbound:`` flag and said "yes" for a field no view may send. The fixture
(tests/fixtures/inbound/shapes.shim.yaml) has every inbound shape the code model knows, a
field only one group may send (``phone``) and one no view may send (``a.c``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shimgen.check import check_mapping
from shimgen.check.plan import ShimPlan
from shimgen.render.generate import render_package
from shimgen.render.servicespec import any_inbound, fields_in, inbound_rules
from shimgen.schema.model import format_path
from tests.expected import translator

MAPPING = Path(__file__).parent / "fixtures" / "inbound" / "shapes.shim.yaml"

RECORD: dict[str, Any] = {
    "id": "cust-17",
    "a": {"b": "bee", "c": 3},
    "phone": "555-0100",
    "items": [{"x": "one", "deep": {"y": "why"}}, {"x": "two"}],
    "tags": ["red", "green"],
    "u": [1, 2],
    "n": 9,
    "hidden": "never",
}


@pytest.fixture(scope="module")
def plan() -> ShimPlan:
    result = check_mapping(MAPPING)
    assert result.plan is not None, [f.format() for f in result.findings]
    return result.plan


@pytest.fixture(scope="module")
def shim(plan: ShimPlan) -> Iterator[ModuleType]:
    with translator(plan) as mod:
        yield mod


def sendable(plan: ShimPlan, view: str | None) -> set[str]:
    return {format_path(r.internal) for r in inbound_rules(plan, view)}


def test_the_rule_on_the_fixture(plan: ShimPlan) -> None:
    everything = {"id", "a.b", "phone", "items[].x", "items[].deep.y", "tags[]"}
    assert sendable(plan, "h") == everything
    assert sendable(plan, "g") == everything - {"phone"}
    assert sendable(plan, None) == everything - {"phone"}  # the strictest view drops phone
    assert "a.c" not in {format_path(r.internal) for r in any_inbound(plan)}


@pytest.mark.parametrize("view", [None, "g", "h"])
def test_the_translator_takes_back_exactly_what_the_rule_allows(
    plan: ShimPlan, shim: ModuleType, view: str | None
) -> None:
    out = shim.to_external(RECORD, view)
    allowed = {r.external[0] for r in inbound_rules(plan, view)}
    payload = {k: v for k, v in out.items() if k in allowed}
    back = shim.to_internal(payload, view)
    expected: dict[str, Any] = {
        "id": "cust-17",
        "a": {"b": "bee"},
        "items": [{"x": "one", "deep": {"y": "why"}}, {"x": "two"}],
        "tags": ["red", "green"],
    }
    if view == "h":
        expected["phone"] = "555-0100"
    assert back == expected
    refused = sorted(set(out) - allowed)
    assert refused, "the canary output carries fields the view may not send"
    with pytest.raises(ValueError) as err:
        shim.to_internal(out, view)
    pointers = sorted(p.pointer for p in err.value.problems)  # type: ignore[attr-defined]
    assert pointers == ["/" + k for k in refused]


def test_a_field_no_view_may_send_is_refused_everywhere(shim: ModuleType) -> None:
    for view in (None, "g", "h"):
        with pytest.raises(ValueError) as err:
            shim.to_internal({"a": {"c": 3}}, view)
        assert [p.pointer for p in err.value.problems] == ["/a"]  # type: ignore[attr-defined]


def test_scalar_array_items_are_reversed_one_by_one(shim: ModuleType) -> None:
    """An inbound ``tags[]`` item function reverses its value (it named a variable it lacked)."""
    assert shim.to_internal({"labels": ["a", "b"]}, "g") == {"tags": ["a", "b"]}
    with pytest.raises(ValueError) as err:
        shim.to_internal({"labels": ["a", 5, None]}, "g")
    assert [p.pointer for p in err.value.problems] == ["/labels/1", "/labels/2"]  # type: ignore[attr-defined]


def test_openapi_readme_and_service_read_the_same_rule(plan: ShimPlan) -> None:
    files = render_package(plan)
    pkg = "shapes_shim"
    payload = json.loads(files[f"{pkg}/openapi.json"])["components"]["schemas"]["InboundPayload"]
    assert (
        sorted(payload["properties"])
        == sorted({r.external[0] for r in any_inbound(plan)})
        == ["ab", "contact", "customerId", "labels", "things"]
    )
    rows = re.findall(r"^\| `([^`]+)` \|.*\| (yes|) \|$", files["README.md"], re.M)
    readme_yes = {internal for internal, yes in rows if yes}
    assert readme_yes == {format_path(r.internal) for r in any_inbound(plan)}
    assert "a.c" in {internal for internal, _ in rows} and "a.c" not in readme_yes
    app = files[f"{pkg}/app.py"]
    for view in ("g", "h"):
        for entry in fields_in(plan, view):
            assert repr(entry) in app or f'"{entry}"' in app
    assert "a.c:pass" not in app
