"""SG106 on value constraints: what the external field requires (pattern, lengths, item
counts, range, step), the copied internal field must promise, and a treatment must not
contradict what it states of its output. Before, such mappings checked clean and the
generated service refused every record with a 422 (its external-schema validation)."""

from __future__ import annotations

import json
import tempfile
from itertools import count
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shimgen.check import check_mapping
from shimgen.check.types import pass_fit, treatment_fit
from shimgen.diagnostics import Code
from shimgen.schema.loader import load_schema
from shimgen.schema.model import Limits, SchemaNode
from shimgen.treatments import parse_treatment

_DIR = Path(tempfile.mkdtemp(prefix="sg106-"))
_SEQ = count()


def node(schema: dict[str, Any]) -> SchemaNode:
    """The loaded node of one schema (a fresh file each time: nodes are never shared)."""
    path = _DIR / f"s{next(_SEQ)}.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    return load_schema(path, None).root


def copy_fit(src: dict[str, Any], dst: dict[str, Any]) -> str | None:
    return pass_fit(node(src), node(dst))


def treated_fit(spec: Any, src: dict[str, Any], dst: dict[str, Any]) -> str | None:
    return treatment_fit(parse_treatment(spec), node(src), node(dst))


S = {"type": "string"}
CARD = {"type": "string", "pattern": "^[0-9]{16}$"}
LAST4 = {"type": "string", "pattern": "^[0-9]{4}$"}


# -- the loader records the bounds ---------------------------------------------------------


def test_loader_reads_both_spellings_of_exclusive_bounds() -> None:
    oas30 = node({"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 9})
    assert oas30.limits == Limits(minimum=0, exclusive_minimum=True, maximum=9)
    modern = node({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 9})
    assert modern.limits == Limits(
        minimum=0, exclusive_minimum=True, maximum=9, exclusive_maximum=True
    )


def test_loader_keeps_the_tightest_bound_of_every_allof_part() -> None:
    merged = node(
        {
            "allOf": [
                {"type": "string", "maxLength": 10, "minLength": 2},
                {"maxLength": 4, "minLength": 1},
            ]
        }
    )
    assert merged.limits == Limits(min_length=2, max_length=4)


def test_a_type_list_gives_its_bounds_to_every_branch() -> None:
    union = node({"type": ["string", "integer"], "maxLength": 3, "maximum": 5})
    assert {v.kind.value: v.limits for v in union.variants} == {
        "string": Limits(max_length=3, maximum=5),
        "integer": Limits(max_length=3, maximum=5),
    }


# -- pattern ----------------------------------------------------------------------------------


def test_copy_onto_an_unpromised_pattern_is_refused() -> None:
    reason = copy_fit(CARD, LAST4)
    assert reason is not None
    assert "requires pattern ^[0-9]{4}$, which the internal field does not promise" in reason
    assert "treat the value" in reason and "relax the external pattern" in reason
    assert copy_fit(S, LAST4) is not None


def test_copy_with_the_same_pattern_fits() -> None:
    assert copy_fit(LAST4, LAST4) is None


def test_an_enum_whose_every_value_matches_the_pattern_fits() -> None:
    assert copy_fit({"type": "string", "enum": ["1234", "0000"]}, LAST4) is None
    assert copy_fit({"type": "string", "const": "4242"}, LAST4) is None


def test_an_enum_with_one_value_off_the_pattern_is_refused() -> None:
    reason = copy_fit({"type": "string", "enum": ["1234", "12345"]}, LAST4)
    assert reason is not None and "'12345'" in reason and "pattern ^[0-9]{4}$" in reason


def test_patterns_are_ecma_262_as_the_service_reads_them() -> None:
    """`\\d` and an unanchored pattern as jsonschema-rs reads them: searched, not matched whole."""
    assert (
        copy_fit({"type": "string", "enum": ["ab12"]}, {"type": "string", "pattern": r"\d"}) is None
    )
    assert (
        copy_fit({"type": "string", "enum": ["ab"]}, {"type": "string", "pattern": r"\d"})
        is not None
    )


# -- lengths and item counts --------------------------------------------------------------------


def test_copy_onto_a_max_length_needs_one_as_tight() -> None:
    dst = {"type": "string", "maxLength": 4}
    reason = copy_fit(S, dst)
    assert (
        reason is not None and "requires maxLength 4 but the internal field promises none" in reason
    )
    reason = copy_fit({"type": "string", "maxLength": 16}, dst)
    assert reason is not None and "keeps maxLength 16" in reason
    assert copy_fit({"type": "string", "maxLength": 4}, dst) is None
    assert copy_fit({"type": "string", "maxLength": 2}, dst) is None


def test_copy_onto_a_min_length_needs_one_as_tight() -> None:
    dst = {"type": "string", "minLength": 2}
    assert copy_fit(S, dst) is not None
    assert copy_fit({"type": "string", "minLength": 1}, dst) is not None
    assert copy_fit({"type": "string", "minLength": 3}, dst) is None
    assert copy_fit(S, {"type": "string", "minLength": 0}) is None  # bounds nothing


def test_copied_arrays_keep_the_item_counts() -> None:
    items = {"type": "array", "items": S}
    assert copy_fit(items, {**items, "maxItems": 3}) is not None
    assert copy_fit({**items, "maxItems": 5}, {**items, "maxItems": 3}) is not None
    assert copy_fit({**items, "maxItems": 2}, {**items, "maxItems": 3}) is None
    assert copy_fit(items, {**items, "minItems": 1}) is not None
    assert copy_fit({**items, "minItems": 1}, {**items, "minItems": 1}) is None


def test_the_items_of_a_copied_array_keep_their_own_bounds() -> None:
    src = {"type": "array", "items": {"type": "string", "maxLength": 9}}
    reason = copy_fit(src, {"type": "array", "items": {"type": "string", "maxLength": 4}})
    assert reason is not None and "maxLength 4" in reason


def test_an_integer_sent_as_text_promises_the_length_of_its_digits() -> None:
    dst = {"type": "string", "maxLength": 4}
    assert copy_fit({"type": "integer", "minimum": 0, "maximum": 9999}, dst) is None
    assert copy_fit({"type": "integer", "minimum": 0, "maximum": 10000}, dst) is not None
    assert copy_fit({"type": "integer", "minimum": -999, "maximum": 0}, dst) is None


# -- range and step ------------------------------------------------------------------------------


def test_copy_onto_a_range_needs_one_within_it() -> None:
    dst = {"type": "integer", "minimum": 1, "maximum": 100}
    reason = copy_fit({"type": "integer", "minimum": 0, "maximum": 100}, dst)
    assert (
        reason is not None
        and "requires minimum 1 but the internal field keeps values >= 0" in reason
    )
    assert copy_fit({"type": "integer", "minimum": 1}, dst) is not None  # no upper bound
    assert copy_fit({"type": "integer", "minimum": 1, "maximum": 100}, dst) is None
    assert copy_fit({"type": "integer", "minimum": 5, "maximum": 50}, dst) is None


def test_exclusive_bounds_narrow_integers_to_the_next_whole_number() -> None:
    dst = {"type": "integer", "minimum": 1, "maximum": 9}
    assert copy_fit({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}, dst) is None
    numbers = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10}
    assert copy_fit(numbers, {"type": "number", "minimum": 1, "maximum": 9}) is not None
    assert copy_fit(numbers, {"type": "number", "exclusiveMinimum": 0, "maximum": 10}) is None
    assert (
        copy_fit({"type": "number", "minimum": 0}, {"type": "number", "exclusiveMinimum": 0})
        is not None
    )


def test_integer_formats_bound_the_value_as_the_service_does() -> None:
    """An integer without format counts as an int64; an int32 field needs an int32 (or bounds)."""
    int32 = {"type": "integer", "format": "int32"}
    assert copy_fit({"type": "integer"}, {"type": "integer", "format": "int64"}) is None
    reason = copy_fit({"type": "integer", "format": "int64"}, int32)
    assert reason is not None and "requires minimum -2147483648" in reason
    assert copy_fit({"type": "integer"}, int32) is not None
    assert copy_fit(int32, int32) is None
    assert copy_fit({"type": "integer", "minimum": 0, "maximum": 100}, int32) is None


def test_copy_onto_a_step_needs_a_multiple_of_it() -> None:
    dst = {"type": "number", "multipleOf": 0.25}
    assert copy_fit({"type": "number"}, dst) is not None
    assert copy_fit({"type": "number", "multipleOf": 0.5}, dst) is None
    assert copy_fit({"type": "number", "multipleOf": 0.1}, dst) is not None
    assert copy_fit({"type": "integer"}, dst) is None  # whole numbers are multiples of 0.25
    assert copy_fit({"type": "integer"}, {"type": "integer", "multipleOf": 5}) is not None


# -- inside copies: objects, unions ---------------------------------------------------------------


def test_a_field_inside_a_copied_object_is_checked() -> None:
    src = {"type": "object", "properties": {"card": CARD}}
    reason = copy_fit(src, {"type": "object", "properties": {"card": LAST4}})
    assert reason is not None and reason.startswith("`card`: the external field requires pattern")
    assert copy_fit(src, {"type": "object", "properties": {"card": CARD}}) is None


def test_union_branches_are_checked_one_by_one() -> None:
    src = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "string"}]}
    dst = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "string"}]}
    assert copy_fit(src, dst) is None
    narrow = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 5}, {"type": "string"}]}
    assert copy_fit(src, narrow) is not None


def test_a_scalar_fits_a_union_when_one_branch_takes_all_of_it() -> None:
    dst = {"oneOf": [{"type": "string", "maxLength": 2}, {"type": "string", "maxLength": 8}]}
    assert copy_fit({"type": "string", "maxLength": 6}, dst) is None
    assert copy_fit({"type": "string", "maxLength": 9}, dst) is not None


# -- treated values: only what the treatment states -------------------------------------------------


def test_last4_yields_at_most_four_characters() -> None:
    reason = treated_fit("last4", CARD, {"type": "string", "maxLength": 3})
    assert reason is not None and "`last4` keeps maxLength 4" in reason
    assert treated_fit("last4", CARD, {"type": "string", "maxLength": 4}) is None
    # What last4 does not state (its characters) is left to the service at run time.
    assert treated_fit("last4", CARD, LAST4) is None


def test_prefix_mask_and_hash_state_their_lengths() -> None:
    short = {"type": "string", "maxLength": 8}
    assert treated_fit({"prefix": 3}, S, short) is None
    assert treated_fit({"mask": {"keep_last": 2, "length": 12}}, S, short) is not None
    assert treated_fit({"mask": {"keep_last": 2, "length": 8}}, S, short) is None
    assert (
        treated_fit({"mask": {"keep_last": 2}}, {"type": "string", "maxLength": 8}, short) is None
    )
    assert treated_fit({"mask": {"keep_last": 2}}, S, short) is None  # the input's length: unknown
    assert treated_fit({"hash": {"length": 16}}, S, short) is not None
    assert treated_fit({"hash": {"length": 16}}, S, {"type": "string", "minLength": 20}) is not None
    assert treated_fit({"hash": {"length": 8}}, S, short) is None


def test_month_yields_seven_characters_or_a_bare_year() -> None:
    date = {"type": "string", "format": "date"}
    assert treated_fit("month", date, {"type": "string", "maxLength": 6}) is not None
    assert treated_fit("month", date, {"type": "string", "minLength": 7, "maxLength": 7}) is None
    fhir = {"type": "string", "pattern": r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$"}
    assert treated_fit("month", fhir, {"type": "string", "minLength": 7}) is not None


def test_a_redaction_text_must_satisfy_the_external_field() -> None:
    reason = treated_fit("redact", S, LAST4)
    assert reason is not None and "'[redacted]'" in reason and "pattern ^[0-9]{4}$" in reason
    assert treated_fit({"redact": "0000"}, S, LAST4) is None
    assert treated_fit({"redact": "xxxxx"}, S, {"type": "string", "maxLength": 4}) is not None


def test_every_map_value_must_satisfy_the_external_field() -> None:
    src = {"type": "string", "enum": ["A", "S"]}
    dst = {"type": "string", "maxLength": 6}
    reason = treated_fit({"map": {"A": "active", "S": "suspended"}}, src, dst)
    assert reason is not None and "'suspended'" in reason and "maxLength 6" in reason
    assert treated_fit({"map": {"A": "active", "S": "off"}}, src, dst) is None
    ints = {"type": "integer", "minimum": 1}
    assert treated_fit({"map": {"A": 1, "S": 0}}, src, ints) is not None


def test_bucket_labels_are_known_exactly() -> None:
    dst = {"type": "string", "pattern": "^[0-9+<-]+$", "maxLength": 5}
    assert treated_fit({"bucket": [0, 18, 65]}, {"type": "integer"}, dst) is None
    assert treated_fit({"bucket": [0, 18, 100000]}, {"type": "integer"}, dst) is not None


def test_year_states_no_range() -> None:
    """A date states no range of years, and an external `minimum: 1900` is a business rule:
    left to run time, as the customer example's birthYear shows."""
    dst = {"type": "integer", "minimum": 1900, "maximum": 2100}
    assert treated_fit("year", {"type": "string", "format": "date"}, dst) is None


# -- through check: file:line:col, every finding ---------------------------------------------------


def test_check_reports_every_constraint_finding_at_its_line(tmp_path: Path) -> None:
    internal = {
        "type": "object",
        "properties": {
            "card": CARD,
            "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": S},
            "code": {"type": "string", "enum": ["1234"]},
        },
    }
    external = {
        "type": "object",
        "properties": {
            "last4": LAST4,
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "tags": {"type": "array", "items": S, "maxItems": 3},
            "code": LAST4,
            "origin": {"type": "string", "pattern": "^[a-z]+$"},
        },
    }
    (tmp_path / "in.json").write_text(json.dumps(internal), encoding="utf-8")
    (tmp_path / "out.json").write_text(json.dumps(external), encoding="utf-8")
    text = (
        "shim: sg106\nversion: 1\nowner: t\ndescription: d\n"
        "internal: {schema: in.json}\nexternal: {schema: out.json}\n"
        "fields:\n"
        "  card: {to: last4}\n"
        "  age: pass\n"
        "  tags: pass\n"
        "  code: pass\n"
        "derived:\n"
        "  origin: {const: EU}\n"
    )
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(text, encoding="utf-8")
    findings = check_mapping(mapping).findings
    got = sorted((f.code, f.line, f.col) for f in findings)
    assert got == [
        (Code.TYPE_MISMATCH, 8, 3),
        (Code.TYPE_MISMATCH, 9, 3),
        (Code.TYPE_MISMATCH, 10, 3),
        (Code.TYPE_MISMATCH, 13, 3),
    ], "\n".join(f.format() for f in findings)
    assert all(f.hint for f in findings)
    by_line = {f.line: f.message for f in findings}
    assert "pattern ^[0-9]{4}$" in by_line[8]
    assert "maximum 150" in by_line[9]
    assert "maxItems 3" in by_line[10]
    assert "'EU'" in by_line[13] and "pattern ^[a-z]+$" in by_line[13]


# -- properties: the check agrees with the service's validator ---------------------------------------

PATTERNS = ["^[0-9]{4}$", "^[a-c]+$", "[0-9]", "^a", "^$", "^(ab|c)*$"]


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.text(alphabet="abc0129", max_size=5), min_size=1, max_size=4, unique=True),
    pattern=st.sampled_from(PATTERNS),
    max_length=st.none() | st.integers(0, 5),
)
def test_an_enum_copy_is_accepted_exactly_when_the_external_schema_takes_every_value(
    values: list[str], pattern: str, max_length: int | None
) -> None:
    external: dict[str, Any] = {"type": "string", "pattern": pattern}
    if max_length is not None:
        external["maxLength"] = max_length
    validator = jsonschema_rs.validator_for(external)
    expected = all(validator.is_valid(v) for v in values)
    got = copy_fit({"type": "string", "enum": values}, external)
    assert (got is None) == expected, got


def _bound(draw: st.DrawFn, keyword: str) -> dict[str, Any]:
    if not draw(st.booleans()):
        return {}
    value = draw(st.integers(-6, 6))
    exclusive = draw(st.booleans())
    return {("exclusive" + keyword[0].upper() + keyword[1:]) if exclusive else keyword: value}


@st.composite
def ranges(draw: st.DrawFn, *, closed: bool) -> dict[str, Any]:
    low = {"minimum": draw(st.integers(-6, 6))} if closed else _bound(draw, "minimum")
    high = {"maximum": draw(st.integers(-6, 6))} if closed else _bound(draw, "maximum")
    return {"type": "integer", **low, **high}


@settings(max_examples=200, deadline=None)
@given(src=ranges(closed=True), dst=ranges(closed=False))
def test_an_integer_range_copy_is_accepted_exactly_when_every_integer_in_it_validates(
    src: dict[str, Any], dst: dict[str, Any]
) -> None:
    """Small closed internal ranges, so every value can be tried against the external schema."""
    assume(src["minimum"] <= src["maximum"])
    inside = range(src["minimum"], src["maximum"] + 1)
    validator = jsonschema_rs.validator_for(dst)
    expected = all(validator.is_valid(v) for v in inside)
    got = copy_fit(src, dst)
    assert (got is None) == expected, (src, dst, got)


@pytest.mark.parametrize(
    "schema",
    [CARD, {"type": "integer", "minimum": 0}, {"type": "array", "items": S, "maxItems": 2}],
)
def test_a_field_fits_itself(schema: dict[str, Any]) -> None:
    loaded = node(schema)
    assert pass_fit(loaded, loaded) is None
