"""``{mask: {length: N}}``: a mask whose output length says nothing about the input's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import shimgen.check  # noqa: F401  (shimgen.treatments is imported through the checker)
from shimgen.runtime.core import transforms
from shimgen.treatments import parse_treatment
from shimgen.treatments.base import TreatmentError
from shimgen.treatments.partial import fixed_length_mask

HIDDEN = "\x00"  # never drawn in values: marks the masked run in the reference


def _reference(v: str, first: int, last: int, length: int, char: str) -> str:
    """What runtime ``mask`` keeps in clear on ``v``, with the masked run resized."""
    m = transforms.mask(v, first, last, HIDDEN)
    head = m.index(HIDDEN) if HIDDEN in m else len(m)
    tail = len(m) - 1 - m.rindex(HIDDEN) if HIDDEN in m else 0
    return m[:head] + char * (length - head - tail) + (m[len(m) - tail :] if tail else "")


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, int, int, int, str]:
    value = draw(st.text(st.characters(blacklist_characters=HIDDEN), max_size=40))
    first = draw(st.integers(0, 6))
    last = draw(st.integers(0, 6))
    length = draw(st.integers(first + last + 1, first + last + 20))
    char = draw(st.sampled_from("*#x"))
    return value, first, last, length, char


@given(_cases())
def test_output_has_the_fixed_length_and_keeps_what_mask_keeps(
    case: tuple[str, int, int, int, str],
) -> None:
    value, first, last, length, char = case
    expr = fixed_length_mask(first, last, length, char)
    out = eval(expr, {"_t": transforms}, {"v": value})  # the generated expression itself
    assert len(out) == length
    assert out == _reference(value, first, last, length, char)


def test_two_ibans_of_different_lengths_look_alike() -> None:
    expr = fixed_length_mask(0, 4, 12, "*")
    short = eval(expr, {}, {"v": "NO9386011117947"})
    long = eval(expr, {}, {"v": "MT84MALT011000012345MTLCAST001S"})
    assert (short, long) == ("********7947", "********001S")


def test_length_must_leave_a_masked_character() -> None:
    with pytest.raises(TreatmentError, match="must be greater than keep_first") as info:
        parse_treatment({"mask": {"keep_first": 2, "keep_last": 4, "length": 6}})
    # the hint gives the smallest length that works (docs/treatments.md promises it) ...
    assert info.value.hint.startswith("write `length: 7` or more")
    # ... and it does work
    assert parse_treatment({"mask": {"keep_first": 2, "keep_last": 4, "length": 7}}).reveals == 6
    t = parse_treatment({"mask": {"keep_last": 4, "length": 12}})
    assert str(t) == "mask(keep_last=4, length=12)"
    assert t.reveals == 4


def test_diff_ranks_a_fixed_length_as_tighter() -> None:
    plain = parse_treatment({"mask": {"keep_last": 4}})
    fixed = parse_treatment({"mask": {"keep_last": 4, "length": 12}})
    d = plain.definition
    assert d.compare(plain, fixed) == (-1, "the masked value no longer tells the input's length")
    assert d.compare(fixed, plain) == (1, "the masked value now tells the input's length")
    other = parse_treatment({"mask": {"keep_last": 4, "length": 16}})
    assert d.compare(fixed, other)[0] == 0
