"""``truncate``, and ``year``/``month`` on partial dates: the run-time functions.

Property tests: truncation keeps the value's shape (so its format: a
date-time stays an RFC 3339 date-time with the same offset, a date stays a
date, a partial date keeps its precision), is idempotent, never moves the
value later, and keeps exactly the fields up to the unit.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shimgen.runtime.core.transforms import mask_email, month, truncate, year

UNITS = ["year", "month", "day", "hour", "minute"]
FORMATS = jsonschema.FormatChecker()  # checks `date`; `date-time` needs an extra package
RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", re.ASCII)

offsets = st.integers(-14 * 60 + 1, 14 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
datetimes = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets | st.just(UTC)
)


def rfc3339(value: datetime, *, z: bool, fraction: bool) -> str:
    text = value.isoformat(timespec="microseconds" if fraction else "seconds")
    return text.replace("+00:00", "Z") if z else text


def offset_of(text: str) -> str:
    match = re.search(r"(Z|[+-]\d\d:\d\d)$", text)
    assert match
    return match[1]


@given(datetimes, st.sampled_from(UNITS), st.booleans(), st.booleans())
def test_date_time_keeps_format_offset_and_never_moves_later(
    value: datetime, unit: str, z: bool, fraction: bool
) -> None:
    text = rfc3339(value, z=z, fraction=fraction)
    out = truncate(text, unit)
    assert RFC3339.fullmatch(out), out
    assert offset_of(out) == offset_of(text)
    assert datetime.fromisoformat(out) <= datetime.fromisoformat(text)
    assert truncate(out, unit) == out, "idempotent"
    kept = {"year": 4, "month": 7, "day": 10, "hour": 13, "minute": 16}[unit]
    assert out[:kept] == text[:kept]
    parsed = datetime.fromisoformat(out)
    zeroed = {
        "year": (parsed.month, parsed.day, parsed.hour, parsed.minute),
        "month": (parsed.day, parsed.hour, parsed.minute),
        "day": (parsed.hour, parsed.minute),
        "hour": (parsed.minute,),
        "minute": (),
    }[unit]
    assert all(v in (0, 1) for v in zeroed) and parsed.second == 0


@given(st.dates(min_value=date(1, 1, 1)), st.sampled_from(UNITS))
def test_date_stays_a_date(value: date, unit: str) -> None:
    text = value.isoformat()
    out = truncate(text, unit)
    assert FORMATS.conforms(out, "date")
    assert date.fromisoformat(out) <= value
    assert truncate(out, unit) == out
    expected = {"year": value.replace(month=1, day=1), "month": value.replace(day=1)}
    assert out == expected.get(unit, value).isoformat()


@given(st.integers(1, 9999), st.integers(1, 12), st.sampled_from(UNITS))
def test_partial_dates_keep_their_precision(y: int, m: int, unit: str) -> None:
    yyyy, yyyy_mm = f"{y:04d}", f"{y:04d}-{m:02d}"
    partial = ("year", "year-month", "date")
    assert truncate(yyyy, unit, partial) == yyyy
    assert truncate(yyyy_mm, unit, partial) == (f"{y:04d}-01" if unit == "year" else yyyy_mm)
    assert year(yyyy, True) == year(yyyy_mm, True) == y
    assert month(yyyy_mm, True) == yyyy_mm
    assert month(yyyy, True) == yyyy, "a year alone is already coarser than a month"


def test_the_examples_of_the_issue() -> None:
    assert truncate("2024-03-17T10:22:05Z", "month") == "2024-03-01T00:00:00Z"
    assert truncate("2024-03-17", "month") == "2024-03-01"
    assert truncate("2024-03-17T10:22:05.123+02:00", "hour") == "2024-03-17T10:00:00+02:00"
    assert truncate("2024-03-17t10:22:05z", "day") == "2024-03-17t00:00:00z"


FULL = ("date", "date-time")
ANY = ("year", "year-month", "date", "date-time")


@pytest.mark.parametrize(
    ("value", "unit", "shapes", "message"),
    [
        ("1974", "year", FULL, "shape: date or date-time"),
        ("1974-12", "month", FULL, "shape: date or date-time"),
        ("2024-03-17", "month", ("date-time",), "shape: date-time"),
        ("2024-03-17T10:22:05Z", "month", ("date",), "shape: date"),
        ("1974-13", "year", ANY, "valid calendar date"),
        ("2023-02-29", "year", FULL, "valid calendar date"),
        ("2024-03-17T25:00:00Z", "day", FULL, "valid calendar date"),
        ("2024-03-17T10:22:05", "day", FULL, "expects an ISO date"),
        ("17/03/2024", "day", ANY, "expects an ISO date"),
        ("2024-03-17", "week", FULL, "unit must be"),
        (20240317, "day", FULL, "expects a date or date-time string"),
    ],
)
def test_values_that_do_not_parse_are_refused_without_echo(
    value: object, unit: str, shapes: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as err:
        truncate(value, unit, shapes)  # type: ignore[arg-type]
    assert str(value) not in str(err.value)


# -- mask_email keeps format email -------------------------------------------------

DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@given(st.emails())
def test_mask_email_of_an_address_is_an_address(address: str) -> None:
    out = mask_email(address, True)
    local, domain = out.rsplit("@", 1)
    assert DOT_ATOM.fullmatch(local), "`*` is atext: j*** is a valid local part"
    assert local == address[0] + "***" and domain == address.rsplit("@", 1)[1]
    assert FORMATS.conforms(out, "email")
    assert mask_email(address) == out, "strict changes nothing for an address"


@pytest.mark.parametrize("value", ["", "no-at-sign", "@example.com", "jane@"])
def test_mask_email_strict_refuses_what_is_not_an_address(value: str) -> None:
    with pytest.raises(ValueError, match="expects an e-mail address") as err:
        mask_email(value, True)
    assert value not in str(err.value) or not value
