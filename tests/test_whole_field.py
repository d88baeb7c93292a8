"""Whole-field copies (objects, maps, unions, arrays of objects) and scalar-array items.

A copied object is still an allow-list: only the fields its schema declares
are copied, at every depth; unknown keys inside it never come out.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from shimgen.check import check_mapping
from tests.expected import ROOT, translator

MAPPING = ROOT / "tests" / "fixtures" / "whole" / "whole.shim.yaml"


@pytest.fixture(scope="module")
def whole() -> Iterator[ModuleType]:
    plan = check_mapping(MAPPING).plan
    assert plan is not None
    with translator(plan) as mod:
        yield mod


def test_copies_declared_fields_only_at_every_depth(whole: ModuleType) -> None:
    record = {
        "address": {
            "street": "Main 1",
            "zip": "12345",
            "secret": "x",
            "geo": {"lat": 1.5, "lon": 2, "alt": 9},
        },
        "labels": {"a": "b"},
        "code": 7,
        "history": [{"street": "Old 2", "note": "hidden"}],
        "tags": ["x", "y"],
        "count": 42,
        "unknown": "never",
    }
    out = whole.to_external(record)
    assert out["address"] == {"street": "Main 1", "zip": "12345", "geo": {"lat": 1.5, "lon": 2}}
    assert out["labels"] == {"a": "b"}
    assert out["code"] == 7
    assert out["history"] == [{"street": "Old 2"}]
    assert len(out["tagHashes"]) == 2 and all(len(h) == 12 for h in out["tagHashes"])
    assert out["countText"] == "42", "pass converts integer to string when the external type asks"
    assert "unknown" not in out


@pytest.mark.parametrize(
    ("record", "pointer"),
    [
        ({"address": {"geo": {"lat": "north"}}}, "/address/geo/lat"),
        ({"address": {"geo": []}}, "/address/geo"),
        ({"labels": {"a": 1}}, "/labels/a"),
        ({"labels": {"a/b": [1]}}, "/labels/a~1b"),
        ({"code": 1.5}, "/code"),
        ({"history": [{}, {"zip": 5}]}, "/history/1/zip"),
        ({"tags": ["ok", 3]}, "/tags/1"),
        ({"count": "42"}, "/count"),
    ],
)
def test_copy_errors_point_at_the_value(
    whole: ModuleType, record: dict[str, object], pointer: str
) -> None:
    with pytest.raises(ValueError) as err:
        whole.to_external(record)
    assert [p.pointer for p in err.value.problems] == [pointer]  # type: ignore[attr-defined]


def test_inbound_reverses_the_integer_to_text_conversion(whole: ModuleType) -> None:
    assert whole.to_internal({"countText": "-42"}) == {"count": -42}
    for bad in ("4x2", "", 42, None):
        with pytest.raises(ValueError) as err:
            whole.to_internal({"countText": bad})
        assert [p.pointer for p in err.value.problems] == ["/countText"]  # type: ignore[attr-defined]
        assert "4x2" not in str(err.value)
