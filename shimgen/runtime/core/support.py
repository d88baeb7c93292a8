"""Small helpers that generated ``translate.py`` modules call.

Kept tiny and allocation-free on the success path: generated code does its
own type checks inline and calls these only to build errors, escape JSON
pointers and place values at nested internal paths.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Final

from .errors import Problem, TranslationError

EMPTY: MappingProxyType[str, Any] = MappingProxyType({})
"""Stands in for an absent nested object, so reads need no extra branches."""


class UnknownGroup(ValueError):
    """The caller named a functional group the mapping does not declare."""


def esc(key: str) -> str:
    """One JSON pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def bad(pointer: str, message: object) -> TranslationError:
    """An outbound failure at ``pointer``; the message never holds the value."""
    return TranslationError([Problem(pointer or "/", str(message))])


def sub(d: Any, key: str, pointer: str, errs: list[Problem]) -> Any:
    """A nested inbound object, EMPTY if absent; records a problem if it is not an object."""
    value = d.get(key)
    if value is None:
        return EMPTY
    if value.__class__ is not dict:
        errs.append(Problem(pointer, "expected an object"))
        return EMPTY
    return value


def deny(d: Any, allowed: frozenset[str], pointer: str, errs: list[Problem]) -> None:
    """Mass-assignment guard: every key outside ``allowed`` is a problem."""
    for key in d:
        if key not in allowed:
            errs.append(Problem(f"{pointer}/{esc(str(key))}", "this field may not be sent"))


def put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at a nested path, creating objects on the way."""
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def need(value: Any, kinds: tuple[type, ...], what: str) -> Any:
    """Inbound type check; raises ValueError naming the type, never the value."""
    if value.__class__ not in kinds:
        raise ValueError(f"expected {what}")
    return value


def lookup(table: dict[Any, Any], value: Any) -> Any:
    """``table[value]`` for enum maps; the error names no value."""
    try:
        return table[value]
    except KeyError:
        raise ValueError("not one of the mapped values") from None


def member(value: Any, allowed: frozenset[Any]) -> Any:
    if value not in allowed:
        raise ValueError("not one of the allowed values")
    return value


_ASCII_INT: Final = re.compile(r"-?[0-9]{1,20}", re.ASCII)


def ascii_int(text: object) -> int | None:
    """``text`` as an integer if it is ASCII decimal (``-?[0-9]{1,20}``), else None.

    The one way the runtime reads a number from text. ``str.isdigit()`` is true for
    ``"²"`` (``int()`` then raises) and ``"٣"`` (``int()`` reads 3), and ``int()``
    takes ``"1_000"``, ``"+5"`` and spaces: each would be a second spelling of one
    value, or a crash. Twenty digits hold any 64-bit integer, signed or not, which
    is all a JSON integer carries here (orjson reads larger ones as floats).
    """
    if text.__class__ is not str or _ASCII_INT.fullmatch(text) is None:
        return None
    return int(text)


def to_int(value: Any) -> int:
    """Reverse of the integer -> string conversion of ``pass`` (ASCII decimal only)."""
    number = ascii_int(value)
    if number is None:
        raise ValueError("expected a string of digits")
    return number


def need_list(value: Any, kinds: tuple[type, ...], what: str) -> list[Any]:
    if value.__class__ is not list:
        raise ValueError("expected an array")
    for item in value:
        if item.__class__ not in kinds:
            raise ValueError(f"expected an array of {what}")
    return list(value)


def union_tag(record: dict[str, Any], prop: str, pointer: str) -> Any:
    """The value of the field that names a union branch (a discriminator)."""
    value = record.get(prop)
    if value is None:
        raise bad(f"{pointer}/{esc(prop)}", "missing: it names the branch of the union")
    if value.__class__ not in (str, int, float, bool):
        raise bad(f"{pointer}/{esc(prop)}", "expected a plain value naming the union branch")
    return value


Shape = tuple[frozenset[str], frozenset[str], tuple[tuple[str, frozenset[Any]], ...]]


def union_branch(
    record: dict[str, Any], shapes: tuple[Shape, ...], pointer: str, names: str
) -> int:
    """The object branch a record is, when no field names it (shimgen checked
    that at most one can match): it has every field the branch requires, no
    field that only other branches declare, and the branch's values where the
    branch fixes them (enums, constants)."""
    for i, (required, foreign, tags) in enumerate(shapes):
        if (
            required.issubset(record)
            and foreign.isdisjoint(record)
            and all(k not in record or _within(record[k], allowed) for k, allowed in tags)
        ):
            return i
    raise bad(pointer, f"fits no branch of the union ({names})")


def _within(value: Any, allowed: frozenset[Any]) -> bool:
    try:
        return value in allowed
    except TypeError:  # an object or array where a constant belongs
        return False
