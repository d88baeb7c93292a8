"""Property tests for the value treatments in ``shimgen.runtime.core.transforms``.

These functions decide what leaves the internal domain, so the tests pin the
safety properties (how much a mask reveals, what survives ``mask_email``)
against simple reference implementations rather than a few examples.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shimgen.runtime.core import transforms
from shimgen.runtime.core.transforms import (
    bucket,
    bucket_labels,
    last4,
    mask,
    mask_email,
    month,
    prefix,
    round_to,
    year,
)

# Values drawn from an alphabet that never contains the mask character, so
# every "*" in the output is a masked position.
plain_text = st.text(alphabet=st.characters(blacklist_characters="*@"), max_size=40)
keep = st.integers(min_value=0, max_value=50)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)
number = st.one_of(st.integers(min_value=-(10**9), max_value=10**9), finite)


# -- mask ---------------------------------------------------------------------


@given(plain_text, keep, keep)
def test_mask_keeps_length_and_never_reveals_more_than_half(
    value: str, keep_first: int, keep_last: int
) -> None:
    out = mask(value, keep_first, keep_last)
    n = len(value)
    assert len(out) == n
    assert out.count("*") >= math.ceil(n / 2)
    # Whatever is shown is an unchanged prefix and suffix of the input,
    # around one contiguous masked run.
    first = next((i for i, c in enumerate(out) if c == "*"), n)
    last = max((i for i, c in enumerate(out) if c == "*"), default=-1)
    assert out[:first] == value[:first]
    assert out[last + 1 :] == value[last + 1 :]
    assert set(out[first : last + 1]) <= {"*"}


@given(plain_text, keep, keep)
def test_mask_is_exact_when_within_budget_and_cuts_keep_first_first(
    value: str, keep_first: int, keep_last: int
) -> None:
    n = len(value)
    out = mask(value, keep_first, keep_last)
    if keep_first + keep_last <= n // 2:
        kf, kl = keep_first, keep_last
    else:
        kl = min(keep_last, n // 2)
        kf = n // 2 - kl
    assert out == value[:kf] + "*" * (n - kf - kl) + value[n - kl :]


@given(plain_text, st.sampled_from(["#", "x", "\u2022"]))
def test_mask_char(value: str, char: str) -> None:
    assert mask(value, char=char) == char * len(value)


def test_mask_examples() -> None:
    assert mask("4111111111111111", keep_last=4) == "************1111"
    assert mask("1234", keep_last=4) == "**34"
    assert mask("1234", keep_first=3, keep_last=4) == "**34"
    assert mask("12345", keep_first=1, keep_last=1) == "1***5"
    assert mask("abc", keep_first=2) == "a**"
    assert mask("") == ""


@pytest.mark.parametrize(
    "args",
    [
        (123,),
        (b"abc",),
        ("abc", -1),
        ("abc", 0, -1),
        ("abc", True),
        ("abc", 0, 0, ""),
        ("abc", 0, 0, "**"),
    ],
)
def test_mask_rejects_bad_input(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        mask(*args)


# -- mask_email ---------------------------------------------------------------


@given(plain_text.filter(bool), plain_text)
def test_mask_email_keeps_only_first_char_of_local_part(local: str, domain: str) -> None:
    out = mask_email(f"{local}@{domain}")
    assert out == f"{local[0]}***@{domain}"
    # Nothing of the local part beyond its first character precedes the "@".
    assert out[: out.index("@")] == local[0] + "***"


@given(plain_text)
def test_mask_email_without_address_shape(value: str) -> None:
    assert mask_email(value) == "***"
    assert mask_email("@" + value) == "***"


def test_mask_email_examples() -> None:
    assert mask_email("john.doe@example.com") == "j***@example.com"
    assert mask_email('"a@b"@example.com') == '"***@example.com'
    with pytest.raises(ValueError):
        mask_email(42)  # type: ignore[arg-type]


# -- last4 / prefix -------------------------------------------------------------


@given(st.one_of(st.text(max_size=20), st.integers()))
def test_last4_is_a_short_suffix(value: str | int) -> None:
    out = last4(value)
    text = str(value)
    assert text.endswith(out)
    assert len(out) == min(4, len(text))


@pytest.mark.parametrize("value", [True, 1.5, None, b"1234"])
def test_last4_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        last4(value)


@given(st.text(max_size=20), st.integers(min_value=0, max_value=30))
def test_prefix(value: str, n: int) -> None:
    out = prefix(value, n)
    assert value.startswith(out)
    assert len(out) == min(n, len(value))


@pytest.mark.parametrize("args", [(1, 2), ("abc", -1), ("abc", True), ("abc", 1.0)])
def test_prefix_rejects(args: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError):
        prefix(*args)


# -- year / month ---------------------------------------------------------------

offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)


@given(st.dates())
def test_year_month_of_dates(d: date) -> None:
    text = d.isoformat()
    assert year(text) == d.year
    assert month(text) == f"{d.year:04d}-{d.month:02d}"


@given(st.datetimes(timezones=offsets), st.booleans())
def test_year_month_of_datetimes(dt: datetime, zulu: bool) -> None:
    text = dt.isoformat()
    if zulu and text.endswith("+00:00"):
        text = text[:-6] + "Z"
    assert year(text) == dt.year
    assert month(text) == f"{dt.year:04d}-{dt.month:02d}"


@given(st.text(max_size=30))
def test_year_accepts_only_what_datetime_accepts(text: str) -> None:
    try:
        y = year(text)
    except ValueError:
        return
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    assert parsed.year == y


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024",
        "2024-01",
        "2024-1-01",
        "24-01-01",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "2023-02-29",
        "1900-02-29",
        "2024-04-31",
        "0000-01-01",
        "2024-01-01T10:00:00",
        "2024-01-01 10:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:60:00Z",
        "2024-01-01T10:00:00+24:00",
        "2024-01-01T10:00Z",
        "2024-01-01\n",
        "\uff12\uff10\uff12\uff14-01-01",
    ],
)
def test_year_month_reject(text: str) -> None:
    with pytest.raises(ValueError):
        year(text)
    with pytest.raises(ValueError):
        month(text)


def test_year_month_examples() -> None:
    assert year("2000-02-29") == 2000
    assert month("1999-12-31T23:59:60Z") == "1999-12"
    assert month("2024-03-01T00:00:00.123456-05:00") == "2024-03"
    with pytest.raises(ValueError):
        year(20240101)  # type: ignore[arg-type]


# -- bucket -----------------------------------------------------------------------


@given(st.lists(number, min_size=1, max_size=8, unique=True), number)
def test_bucket_matches_brute_force(raw: list[int | float], value: int | float) -> None:
    bounds = tuple(sorted(raw))
    assume(all(a < b for a, b in pairwise(bounds)))
    labels = bucket_labels(bounds)
    assert len(labels) == len(bounds) + 1
    assert len(set(labels)) == len(labels)
    index = 0
    for i, b in enumerate(bounds):
        if value >= b:
            index = i + 1
    assert bucket(value, bounds, labels) == labels[index]


def test_bucket_labels_examples() -> None:
    assert bucket_labels([0, 18, 65]) == ("<0", "0-17", "18-64", "65+")
    assert bucket_labels([18.5, 65]) == ("<18.5", "18.5-65", "65+")
    assert bucket_labels([100]) == ("<100", "100+")
    bounds = (0, 18, 65)
    labels = bucket_labels(bounds)
    assert [bucket(v, bounds, labels) for v in (-1, 0, 17, 17.9, 18, 64, 65, 10**6)] == [
        "<0",
        "0-17",
        "0-17",
        "0-17",
        "18-64",
        "18-64",
        "65+",
        "65+",
    ]


@pytest.mark.parametrize(
    "bounds", [[], [1, 1], [2, 1], [0, math.nan], [0, math.inf], [True], ["a"], "abc", 5]
)
def test_bucket_labels_rejects(bounds: Any) -> None:
    with pytest.raises(ValueError):
        bucket_labels(bounds)


@pytest.mark.parametrize("value", [True, "5", None, math.nan])
def test_bucket_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        bucket(value, (0, 18), bucket_labels((0, 18)))


# -- round ------------------------------------------------------------------------


@given(number, st.integers(min_value=-6, max_value=6))
def test_round_to_matches_round_and_keeps_type(value: int | float, digits: int) -> None:
    out = round_to(value, digits)
    assert out == round(value, digits)
    assert type(out) is type(value)


@pytest.mark.parametrize("args", [(True, 1), ("1.5", 1), (1.5, 1.0), (1.5, True)])
def test_round_to_rejects(args: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError):
        round_to(*args)


_DATE_LIKE = st.from_regex(r"[0-9\u0662]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True) | st.text(
    alphabet="0123456789-TZ:+.x ", min_size=8, max_size=12
)


def _year_or_none(value: str, full: bool) -> int | None:
    try:
        if full:
            return int(transforms._parse_date(value, "year", False)[1])
        return transforms.year(value)
    except ValueError:
        return None


@settings(max_examples=500, deadline=None)
@given(_DATE_LIKE | st.dates().map(lambda d: d.isoformat()))
def test_year_of_a_plain_date_agrees_with_the_full_parse(value: str) -> None:
    """``year`` judges YYYY-MM-DD without the regex; it must accept and refuse exactly
    what the full parse does (year 0, 29 February, non-ASCII digits, other shapes)."""
    assert _year_or_none(value, full=False) == _year_or_none(value, full=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-02-29", 2024), ("2000-02-29", 2000), ("1900-02-29", None), ("2023-02-29", None),
     ("0000-01-01", None), ("2024-13-01", None), ("2024-04-31", None), ("\u0662024-01-01", None)],
)  # fmt: skip
def test_year_of_a_plain_date_at_the_edges(value: str, expected: int | None) -> None:
    assert _year_or_none(value, full=False) == expected
