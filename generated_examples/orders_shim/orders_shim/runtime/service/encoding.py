"""Step 4 of every request: the answer's bytes, before its audit record is written.

A value the JSON encoder cannot write (an integer beyond 64 bits, made by a
treatment) is the record's problem, a 422 with a pointer, never a 500 after a
record that says 200.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ..core.errors import Problem
from .problems import HTTPProblem

__all__ = ["encode"]


def encode(document: Any, indexed: bool = True) -> bytes:
    """``orjson.dumps(document)``; a value it cannot write is a 422 pointing at it.

    orjson writes integers in [-2**63, 2**64 - 1]; a treatment's output
    beyond that (or any other unwritable value) is the record's problem,
    not the server's. With ``indexed`` the document is a batch (a list) and
    the pointers start with the record's index.
    """
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        pointer = _unwritable(document, "") or "/"
        if not indexed and pointer.startswith("/0"):
            pointer = pointer[2:] or "/"
        raise HTTPProblem(
            422,
            "the translated record holds a value outside what its JSON type can carry "
            "(integers: 64 bits); see errors",
            slug="external-schema-violation",
            title="Translation failed",
            errors=[Problem(pointer, "the value does not fit its external type")],
        ) from None


_INT_RANGE: Final = (-(2**63), 2**64 - 1)  # what orjson writes


def _unwritable(value: Any, pointer: str) -> str | None:
    """The JSON pointer of the first value orjson cannot write, or None (only on the error path)."""
    kind = value.__class__
    if kind is int:
        return None if _INT_RANGE[0] <= value <= _INT_RANGE[1] else pointer
    if kind is dict:
        for key, item in value.items():
            found = _unwritable(item, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
            if found is not None:
                return found
        return None
    if kind is list or kind is tuple:
        for i, item in enumerate(value):
            found = _unwritable(item, f"{pointer}/{i}")
            if found is not None:
                return found
        return None
    if value is None or kind in (str, float, bool):
        return None
    return pointer
