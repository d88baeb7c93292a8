"""The generated README's worked example (shimgen/render/example.py).

The run section shows the service's answers to the package's own test record;
test_docs_transcripts.py runs that section against a served shim. These tests
pin what the page may show: the real translation, with only the values that
depend on the keyset turned into globs, and no example at all when the record
could not make the round trip.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st
from prysk.diff import glob

from shimgen.render.example import RunExample, _merge, _shown, run_example
from shimgen.render.fixtures import inbound_pairs
from shimgen.render.generate import make_meta, render_translate
from shimgen.render.openapi import openapi_document
from tests.expected import EXAMPLES, ROOT, plan_of, translator

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)


def _example(name: str) -> tuple[RunExample | None, dict[str, Any]]:
    plan = plan_of(name)
    canary = json.loads(
        (ROOT / "generated_examples" / f"{name}_shim" / "tests" / "http_canary.json").read_text()
    )
    source = render_translate(plan, make_meta(plan))
    record = canary["record"]
    doc = openapi_document(plan)
    return run_example(plan, source, doc, record, canary["unfit"], inbound_pairs(plan)), record


def _matches(shown: str, actual: bytes) -> bool:
    return bool(glob(shown.encode() + b"\n", actual + b"\n")) or shown.encode() == actual


def test_each_example_shows_the_translation_under_any_keyset() -> None:
    """Under a third fresh keyset (as `keys new` makes one on the user's machine) the lines match."""
    for name in EXAMPLES:
        example, record = _example(name)
        assert example is not None, name
        plan = plan_of(name)
        assert example.group == next(iter(plan.groups))
        with translator(plan) as mod:
            keys: Any = importlib.import_module(mod.__package__ + ".runtime.core.keys")
            keys.install(keys.Keyset.generate())
            out = mod.to_external(record, example.group)
            payload = {k: out[k] for k in example.inbound_fields if k in out}
            back = mod.to_internal(payload, example.group)
        assert _matches(example.outbound, orjson.dumps(out)), (name, example.outbound)
        assert _matches(example.inbound, orjson.dumps(back)), (name, example.inbound)
        # The inbound answer carries internal values only: no glob, shown exactly.
        assert not example.inbound.endswith("(glob)")


def test_a_token_keeps_its_prefix_and_a_keyed_hash_is_a_star() -> None:
    example, _record = _example("customer")
    assert example is not None
    assert '"customerId":"t1.k1.*"' in example.outbound
    assert example.outbound.endswith(" (glob)")
    hr, _ = _example("hr")
    assert hr is not None and '"managerRef":"*"' in hr.outbound


def test_no_example_when_the_record_cannot_make_the_round_trip() -> None:
    plan = plan_of("customer")
    source = render_translate(plan, make_meta(plan))
    doc = openapi_document(plan)
    _example_ok, record = _example("customer")
    pairs = inbound_pairs(plan)
    assert run_example(plan, source, doc, record, [], pairs) is not None
    # The schema still refuses part of the record: the service would answer 422.
    assert run_example(plan, source, doc, record, ["/birth_date"], pairs) is None
    assert run_example(plan, source, doc, {**record, "id": 5}, [], pairs) is None
    # A nested inbound field is not what the page's one-line payload filter picks.
    nested = {v: [(("id",), ("customer", "id"))] for v in pairs}
    assert run_example(plan, source, doc, record, [], nested) is None
    # No field to send back: no inbound step to show.
    assert run_example(plan, source, doc, record, [], {v: [] for v in pairs}) is None
    # Without groups there is no Shim-Group to call the service in.
    no_groups = dataclasses.replace(plan, groups={})
    assert run_example(no_groups, source, doc, record, [], pairs) is None


def test_a_glob_line_escapes_backslashes_only() -> None:
    shown = _shown({"a": "x\\y", "t": "t1.k1.AAA"}, {"a": "x\\y", "t": "t1.k1.BBB"})
    assert shown == '{"a":"x\\\\\\\\y","t":"t1.k1.*"} (glob)'
    assert glob(shown.encode() + b"\n", orjson.dumps({"a": "x\\y", "t": "t1.k1.Z"}) + b"\n")
    assert _shown({"a": "x\\y"}, {"a": "x\\y"}) == orjson.dumps({"a": "x\\y"}).decode()


@given(JSON)
def test_merging_a_value_with_itself_changes_nothing(value: Any) -> None:
    assert _merge(value, value) == value


@given(st.text(max_size=20), st.text(max_size=20))
def test_two_strings_that_differ_keep_their_common_prefix_to_its_last_dot(a: str, b: str) -> None:
    merged = _merge(a, b)
    if a == b:
        assert merged == a
        return
    shown = _shown(a, b)
    assert shown.endswith(" (glob)")
    prefix = merged.split("\ue000")[0]
    assert a.startswith(prefix) and b.startswith(prefix)
    assert prefix == "" or prefix.endswith(".")
    assert re.fullmatch(r'".*\*" \(glob\)', shown)


def test_a_mapping_with_a_get_route_gets_a_proxy_call_from_the_answer() -> None:
    example, _record = _example("customer")
    assert example is not None and example.route is not None
    route = example.route
    assert (route.before, route.field, route.after) == ("/customers/", "customerId", "")
    assert route.upstream_env == "CUSTOMER_UPSTREAM_URL"
    plan = plan_of("customer")
    source = render_translate(plan, make_meta(plan))
    canary = json.loads(
        (ROOT / "generated_examples" / "customer_shim" / "tests" / "http_canary.json").read_text()
    )
    args = (source, openapi_document(plan), canary["record"], [], inbound_pairs(plan))
    # No internal API declared: no proxy call, the rest of the example stays.
    without = run_example(dataclasses.replace(plan, upstream=None), *args)
    assert without is not None and without.route is None
    # A route the group may not call is not shown.
    others = tuple(dataclasses.replace(r, groups=("billing",)) for r in plan.routes)
    assert run_example(dataclasses.replace(plan, routes=others), *args).route is None  # type: ignore[union-attr]
