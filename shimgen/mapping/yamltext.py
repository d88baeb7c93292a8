"""Writing YAML text by hand (``init``) so that every reader gets back the same string.

A mapping file is read with YAML 1.2 semantics (``shimgen.mapping.yamlpos``), but
editors, linters and other tools may still read YAML 1.1, where ``on``, ``y`` and
``0x10`` are not strings. So a scalar is written plain only when no YAML version
could read it as anything but itself; otherwise it is quoted. PyYAML's emitter
decides what plain YAML can hold; the extra words and number shapes cover the
YAML 1.1 and 1.2 spellings it does not know about.
"""

from __future__ import annotations

import math
import re

import yaml

_WORDS = frozenset(
    ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"]
)  # YAML 1.1 booleans (with y/n, which PyYAML omits) and nulls, any case
_NUMBERISH = re.compile(r"[-+]?(\.?[0-9].*|\.(inf|nan))", re.IGNORECASE | re.DOTALL)
_FLOW = frozenset(",[]{}")


def scalar(text: str, *, flow: bool = False) -> str:
    """``text`` as a YAML scalar that reads back as exactly ``text``.

    ``flow``: the scalar stands inside ``{...}``, where ``,[]{}`` also end a plain scalar.
    """
    if _plain_ok(text) and not (flow and any(c in _FLOW for c in text)):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    dumped = yaml.safe_dump(text, default_style='"', width=math.inf, allow_unicode=False)
    return dumped.removesuffix("\n")


def _plain_ok(text: str) -> bool:
    if not text or not text.isprintable() or text.lower() in _WORDS or _NUMBERISH.fullmatch(text):
        return False
    dumped = yaml.safe_dump(text, width=math.inf, allow_unicode=True)
    return dumped in (f"{text}\n...\n", f"{text}\n")
