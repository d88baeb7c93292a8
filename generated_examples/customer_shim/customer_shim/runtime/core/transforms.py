"""Value treatments applied by generated ``translate.py`` code.

Each function implements one row of the treatments catalogue in the design
(``mask``, ``mask_email``, ``last4``, ``year``, ``month``, ``bucket``,
``round``, ``prefix``, ``truncate``). They sit on the hot path of every translation, so they
are plain functions with cheap type checks and no needless allocations; the
generated caller deals with ``None`` and missing fields, so inputs here are
never ``None``.

On input of the wrong type or shape they raise a plain ``ValueError`` with a
short message that never contains the value: the caller turns it into a
``Problem`` with a JSON pointer, and the value must not leak into logs or error
responses.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise
from typing import TypeGuard

__all__ = [
    "bucket",
    "bucket_labels",
    "last4",
    "mask",
    "mask_email",
    "month",
    "prefix",
    "round_to",
    "truncate",
    "year",
]


def _is_int(value: object) -> TypeGuard[int]:
    """True for ``int`` values but not ``bool`` (a bool is never a number here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def mask(value: str, keep_first: int = 0, keep_last: int = 0, char: str = "*") -> str:
    """Mask ``value`` with ``char``, keeping ``keep_first``/``keep_last`` characters.

    The result has the same length as the input, so the shape of the value (a
    phone number, an IBAN) stays recognisable.

    Safety rule: at least half of the characters, ``ceil(len(value) / 2)``, are
    always masked. If ``keep_first + keep_last`` would reveal more than
    ``floor(len(value) / 2)`` characters, the kept counts are reduced,
    ``keep_first`` first. This keeps a mapping written for long values (e.g.
    ``keep_last: 4`` for card numbers) from revealing a short value whole.
    """
    if not isinstance(value, str):
        raise ValueError("mask expects a string")
    if not (_is_int(keep_first) and _is_int(keep_last)) or keep_first < 0 or keep_last < 0:
        raise ValueError("mask keep_first/keep_last must be non-negative integers")
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError("mask char must be a single character")
    n = len(value)
    excess = keep_first + keep_last - (n >> 1)
    if excess > 0:
        cut = keep_first if keep_first < excess else excess
        keep_first -= cut
        keep_last -= excess - cut
    if keep_first == 0 and keep_last == 0:
        return char * n
    return value[:keep_first] + char * (n - keep_first - keep_last) + value[n - keep_last :]


def mask_email(value: str, strict: bool = False) -> str:
    """Mask an e-mail address as ``j***@example.com``.

    Only the first character of the local part survives; its length is hidden
    by a fixed ``***``. The domain is kept because it is usually what the
    external side needs (which organisation). The result of an address is an
    address (``*`` is an atext character in RFC 5322). A value without ``@``
    or with an empty local part is not an address we can partially show, so
    it becomes ``***``; with ``strict`` (the external field needs format
    email) it is refused instead.
    """
    if not isinstance(value, str):
        raise ValueError("mask_email expects a string")
    at = value.rfind("@")
    if strict and not 0 < at < len(value) - 1:
        raise ValueError("mask_email expects an e-mail address")
    if at <= 0:
        return "***"
    return value[0] + "***" + value[at:]


def last4(value: str | int) -> str:
    """Return the last four characters of ``str(value)`` (all of it if shorter)."""
    if isinstance(value, str):
        return value[-4:]
    if _is_int(value):
        return str(value)[-4:]
    raise ValueError("last4 expects a string or an integer")


# An ISO 8601 calendar date, optionally followed by an RFC 3339 time with a
# mandatory offset; month and day may be missing (partial dates, as FHIR
# allows: ``1974``, ``1974-12``), which only callers that pass
# ``partial=True`` accept. re.ASCII keeps [0-9] semantics explicit and fast.
_DATE_RE = re.compile(
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})"
    r"(?:([Tt])([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"([Zz]|[+-]([0-9]{2}):([0-9]{2})))?)?)?",
    re.ASCII,
)
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_UNITS = {"year": 1, "month": 2, "day": 3, "hour": 4, "minute": 5}
"""How many leading fields of a date-time ``truncate`` keeps, per unit."""


def _parse_date(value: str, name: str, partial: bool) -> re.Match[str]:
    """Validate a (possibly partial) date or a date-time; the match has its fields.

    Groups: 1 year, 2 month, 3 day, 4 the ``T``, 5-7 time, 8 offset as
    written, 9-10 offset hours and minutes.
    """
    if not isinstance(value, str):
        raise ValueError(f"{name} expects a date or date-time string")
    m = _DATE_RE.fullmatch(value)
    if m is None or (m[3] is None and not partial):
        raise ValueError(f"{name} expects an ISO date (YYYY-MM-DD) or RFC 3339 date-time")
    ok = _real_day(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    if ok and m[4] is not None:
        # Leap seconds (:60) are valid in RFC 3339.
        ok = int(m[5]) <= 23 and int(m[6]) <= 59 and int(m[7]) <= 60
        if ok and m[9] is not None:
            ok = int(m[9]) <= 23 and int(m[10]) <= 59
    if not ok:
        raise ValueError(f"{name} expects a valid calendar date")
    return m


def _real_day(y: int, mo: int, d: int) -> bool:
    """A day of the proleptic Gregorian calendar (year 1 on)."""
    ok = y >= 1 and 1 <= mo <= 12 and 1 <= d <= _DAYS[mo]
    if ok and mo == 2 and d == 29:
        ok = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    return ok


def year(value: str, partial: bool = False) -> int:
    """Generalise a date or date-time to its year, as written (no time-zone shift)."""
    # A plain YYYY-MM-DD, the usual case, is judged without the regex, by the same rules.
    if value.__class__ is str and len(value) == 10 and value[4] == "-" == value[7]:
        y, mo, d = value[:4], value[5:7], value[8:]
        digits = value.isascii() and y.isdigit() and mo.isdigit() and d.isdigit()
        if digits and _real_day(int(y), int(mo), int(d)):
            return int(y)
    return int(_parse_date(value, "year", partial)[1])


def month(value: str, partial: bool = False) -> str:
    """Generalise a date or date-time to ``"YYYY-MM"``, as written (no time-zone shift).

    A partial date that has only a year (``1974``) is already coarser than a
    month and is returned as it is.
    """
    _parse_date(value, "month", partial)
    return value[:7]


def truncate(value: str, unit: str, shapes: tuple[str, ...] = ("date", "date-time")) -> str:
    """Set every field finer than ``unit`` to its start, keeping the value's shape.

    ``2024-03-17T10:22:05Z`` truncated to ``month`` is ``2024-03-01T00:00:00Z``;
    the date ``2024-03-17`` is ``2024-03-01``. A date-time keeps its offset as
    written (``+02:00`` stays ``+02:00``: no time-zone shift, so the result is
    never later than the input), fractional seconds are dropped and seconds
    become ``00``. A date has no time, so ``day``, ``hour`` and ``minute``
    leave it as it is; a partial date keeps the fields it has (``1974-12`` to
    ``year`` is ``1974-01``).

    ``shapes`` are the forms the field's schema allows (``year``,
    ``year-month``, ``date``, ``date-time``); a value of another form is
    refused, so the result, which has the input's shape, always has the
    field's format (or matches its date pattern).
    """
    keep = _UNITS.get(unit) if isinstance(unit, str) else None
    if keep is None:
        raise ValueError("truncate unit must be year, month, day, hour or minute")
    m = _parse_date(value, "truncate", True)
    if _shape(m) not in shapes:
        raise ValueError(f"truncate expects a value of this shape: {' or '.join(shapes)}")
    out = m[1]
    if m[2] is not None:
        out += "-" + (m[2] if keep >= 2 else "01")
    if m[3] is not None:
        out += "-" + (m[3] if keep >= 3 else "01")
    if m[4] is not None:
        hour = m[5] if keep >= 4 else "00"
        minute = m[6] if keep >= 5 else "00"
        out += f"{m[4]}{hour}:{minute}:00{m[8]}"
    return out


def _shape(m: re.Match[str]) -> str:
    if m[4] is not None:
        return "date-time"
    if m[3] is not None:
        return "date"
    return "year-month" if m[2] is not None else "year"


def bucket_labels(bounds: Sequence[int | float]) -> tuple[str, ...]:
    """Return the labels for the ``len(bounds) + 1`` ranges cut by ``bounds``.

    ``[0, 18, 65]`` gives ``("<0", "0-17", "18-64", "65+")``: between two
    integer bounds the label is inclusive (``lo`` to ``hi - 1``), since integer
    values are what such buckets hold; with a float bound it is the half-open
    range ``lo-hi`` (``"18.5-65"``). Computed once by the generator or at import
    time, never per value.
    """
    if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or not bounds:
        raise ValueError("bucket bounds must be a non-empty list of numbers")
    for b in bounds:
        if not _is_number(b) or not math.isfinite(b):
            raise ValueError("bucket bounds must be finite numbers")
    for lo, hi in pairwise(bounds):
        if not lo < hi:
            raise ValueError("bucket bounds must be strictly increasing")
    labels = [f"<{bounds[0]}"]
    for lo, hi in pairwise(bounds):
        if _is_int(lo) and _is_int(hi):
            labels.append(f"{lo}-{hi - 1}")
        else:
            labels.append(f"{lo}-{hi}")
    labels.append(f"{bounds[-1]}+")
    return tuple(labels)


def bucket(value: int | float, bounds: tuple[int | float, ...], labels: tuple[str, ...]) -> str:
    """Return the label of the range holding ``value``.

    ``value < bounds[0]`` gets ``labels[0]``; ``bounds[i] <= value <
    bounds[i + 1]`` gets ``labels[i + 1]``. ``bounds`` and ``labels`` come
    pre-validated from :func:`bucket_labels` in generated code.
    """
    if not _is_number(value) or value != value:
        raise ValueError("bucket expects a number")
    # int and float compare exactly in Python (no conversion of a big int to float).
    return labels[bisect_right(bounds, value)]


def round_to(value: int | float, digits: int) -> int | float:
    """Round like ``round(value, digits)``; negative digits round to tens, hundreds.

    An integer input stays an integer and is rounded exactly, at any size
    (Python's integer ``round``, never a float detour): ``-2**63`` to
    ``-3`` digits is ``-9223372036854776000``. Whether that still fits the
    external field (``int64``, what JSON can carry) is checked against the
    external schema afterwards (422 with a pointer). A float whose rounding
    overflows, or that is not finite, is refused here.
    """
    if not _is_number(value):
        raise ValueError("round expects a number")
    if not _is_int(digits):
        raise ValueError("round digits must be an integer")
    if _is_int(value):
        return round(value, digits)
    try:
        out = round(value, digits)
    except (OverflowError, ValueError):
        raise ValueError("round: the rounded value is too large") from None
    if not math.isfinite(out):
        raise ValueError("round expects a finite number")
    return out


def prefix(value: str, n: int) -> str:
    """Return the first ``n`` characters of ``value`` (all of it if shorter)."""
    if not isinstance(value, str):
        raise ValueError("prefix expects a string")
    if not _is_int(n) or n < 0:
        raise ValueError("prefix length must be a non-negative integer")
    return value[:n]
