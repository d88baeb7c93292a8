"""Property tests of generated translators (hypothesis).

Over arbitrary records built from the internal schema, plus arbitrary extra
keys, the outbound output only ever contains external schema paths, never an
unknown key, and never a value of a field the view does not pass; inbound
accepts exactly the inbound fields and round-trips them.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shimgen.check.plan import ShimPlan
from shimgen.render.servicespec import inbound_rules
from shimgen.schema.model import ARRAY, Kind, SchemaNode
from tests.expected import EXAMPLES, plan_of, translator

TEXT = st.text(string.ascii_letters + string.digits + " .-_@", min_size=1, max_size=30)


def _date() -> st.SearchStrategy[str]:
    return st.dates().map(lambda d: d.isoformat())


def value_strategy(node: SchemaNode, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that fit ``node`` (recursion cut at depth 3)."""
    if node.enum:
        return st.sampled_from(list(node.enum))
    if node.kind is Kind.STRING:
        if node.format == "date":
            return _date()
        if node.format == "date-time":
            return st.datetimes().map(lambda d: d.isoformat() + "Z")
        if node.format == "email":
            return st.tuples(TEXT.filter(lambda s: "@" not in s), TEXT).map(
                lambda t: f"{t[0]}@{t[1]}.test"
            )
        return TEXT
    if node.kind is Kind.INTEGER:
        return st.integers(min_value=0, max_value=10**9)
    if node.kind is Kind.NUMBER:
        return st.floats(min_value=0, max_value=1e6, allow_nan=False)
    if node.kind is Kind.BOOLEAN:
        return st.booleans()
    if node.kind is Kind.ARRAY and node.items is not None and depth < 3:
        return st.lists(value_strategy(node.items, depth + 1), max_size=3)
    if node.kind is Kind.OBJECT and depth < 3:
        props = {k: value_strategy(v, depth + 1) for k, v in node.properties.items()}
        return st.fixed_dictionaries({}, optional=props)
    if node.kind is Kind.MAP and node.values is not None:
        return st.dictionaries(TEXT, value_strategy(node.values, depth + 1), max_size=2)
    return st.none()


def record_strategy(plan: ShimPlan) -> st.SearchStrategy[dict[str, Any]]:
    base = value_strategy(plan.internal.root)
    extra = st.dictionaries(
        st.text(string.ascii_lowercase, min_size=3).map(lambda s: "xx_" + s), TEXT, max_size=3
    )
    return st.tuples(base, extra).map(lambda t: {**t[0], **t[1]})


def external_paths(
    node: SchemaNode, prefix: tuple[str, ...] = (), stack: tuple[int, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield prefix
    if id(node) in stack:
        return
    stack = (*stack, id(node))
    for name, child in node.properties.items():
        yield from external_paths(child, (*prefix, name), stack)
    if node.kind is Kind.ARRAY and node.items is not None:
        yield from external_paths(node.items, (*prefix, ARRAY), stack)


def output_paths(doc: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from output_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for v in doc:
            yield from output_paths(v, (*prefix, ARRAY))


@pytest.fixture(scope="module", params=EXAMPLES)
def shim(request: pytest.FixtureRequest) -> Iterator[tuple[ShimPlan, ModuleType]]:
    plan = plan_of(request.param)
    with translator(plan) as mod:
        yield plan, mod


SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(data=st.data())
def test_outbound_emits_only_external_schema_paths(
    shim: tuple[ShimPlan, ModuleType], data: st.DataObject
) -> None:
    plan, mod = shim
    record = data.draw(record_strategy(plan))
    allowed = set(external_paths(plan.external.root))
    for view in plan.views:
        out = mod.to_external(record, view)
        unknown = [p for p in output_paths(out) if p not in allowed]
        assert not unknown, f"view {view!r} emitted paths outside the external schema: {unknown}"
        assert "xx_" not in json.dumps(out), "an unknown input key leaked"


@SETTINGS
@given(data=st.data())
def test_inbound_round_trips_and_refuses_the_rest(
    shim: tuple[ShimPlan, ModuleType], data: st.DataObject
) -> None:
    plan, mod = shim
    record = data.draw(record_strategy(plan))
    for view in plan.views:
        out = mod.to_external(record, view)
        inbound = {r.external[0] for r in inbound_rules(plan, view)}
        payload = {k: v for k, v in out.items() if k in inbound}
        back = mod.to_internal(payload, view)
        for rule in plan.rules:
            if rule.internal[0] in back and ARRAY not in rule.internal and len(rule.internal) == 1:
                assert back[rule.internal[0]] == record[rule.internal[0]]
        refused = {k: v for k, v in out.items() if k not in inbound}
        if refused:
            with pytest.raises(ValueError) as err:
                mod.to_internal(out, view)
            pointers = {p.pointer for p in err.value.problems}  # type: ignore[attr-defined]
            assert pointers == {"/" + k for k in refused}
