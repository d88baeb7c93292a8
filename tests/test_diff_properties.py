"""Properties of ``shimgen diff``: no change without a difference, and antisymmetry.

Antisymmetry is what makes the classification trustworthy in review: undoing a
loosening must read as a tightening, and a neutral change stays neutral both
ways.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shimgen.diff import Kind
from shimgen.diff.treat import compare_treatments
from shimgen.treatments import REVEAL_LIMIT, Treatment, parse_treatment
from tests.diff_support import OLD, diff_files, only, variant

MIRROR = {Kind.LOOSENED: Kind.TIGHTENED, Kind.TIGHTENED: Kind.LOOSENED, Kind.NEUTRAL: Kind.NEUTRAL}

masks = st.fixed_dictionaries(
    {"keep_first": st.integers(0, 6), "keep_last": st.integers(0, 6), "char": st.sampled_from("*#")}
).filter(lambda m: m["keep_first"] + m["keep_last"] <= REVEAL_LIMIT)  # what check accepts
maps = st.dictionaries(
    st.sampled_from(["A", "S", "X"]), st.sampled_from(["a", "b", "c"]), min_size=1
)


def _string_specs() -> st.SearchStrategy[Any]:
    """Treatments that fit a string field copied to a string field."""
    return st.one_of(
        st.sampled_from(["pass", "drop", "redact", "mask_email", "last4", "hash", "tokenize"]),
        st.builds(lambda t: {"redact": t}, st.sampled_from(["[x]", "[hidden]"])),
        st.builds(lambda m: {"mask": m}, masks),
        st.builds(lambda n: {"hash": {"length": n}}, st.integers(8, 64)),
        st.builds(lambda n: {"prefix": n}, st.integers(1, REVEAL_LIMIT)),
        st.builds(lambda m: {"map": m}, maps),
    )


specs = st.one_of(
    _string_specs(),
    st.sampled_from(["null", "year", "month"]),
    st.builds(lambda n: {"round": n}, st.integers(-3, 3)),
    st.builds(
        lambda b: {"bucket": sorted(b)}, st.sets(st.integers(0, 100), min_size=1, max_size=5)
    ),
)
treatments = specs.map(parse_treatment)


@given(treatments)
def test_a_treatment_does_not_change_into_itself(t: Treatment) -> None:
    assert compare_treatments(t, t) is None


@given(treatments, treatments)
def test_treatment_classification_is_antisymmetric(a: Treatment, b: Treatment) -> None:
    forward, backward = compare_treatments(a, b), compare_treatments(b, a)
    if a == b:
        assert forward is None and backward is None
        return
    assert forward is not None and backward is not None
    assert backward.kind is MIRROR[forward.kind], (str(a), str(b), forward, backward)


def _with_notes(tmp: Path, name: str, treat: Any, override: Any) -> Path:
    groups = f", groups: {{support: {json.dumps(override)}}}" if override is not None else ""
    return variant(
        tmp, name, ("notes:       drop", f"notes: {{treat: {json.dumps(treat)}{groups}}}")
    )


@settings(max_examples=40, deadline=None)
@given(_string_specs(), _string_specs(), st.none() | _string_specs())
def test_diff_of_one_field_is_antisymmetric_per_view(a: Any, b: Any, override: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        x = _with_notes(Path(tmp), "x", a, override)
        y = _with_notes(Path(tmp), "y", b, None)
        assert diff_files(x, x).changes == []
        forward = {(c.views, c.kind) for c in only(diff_files(x, y), "fields.notes")}
        backward = {(c.views, c.kind) for c in only(diff_files(y, x), "fields.notes")}
        assert backward == {(views, MIRROR[kind]) for views, kind in forward}


def test_every_example_mapping_diffs_empty_against_itself() -> None:
    root = Path(__file__).resolve().parent.parent / "mappings"
    for path in [*sorted(root.glob("*.shim.yaml")), OLD]:
        result = diff_files(path, path)
        assert result.changes == [] and result.exit_code == 0, path
