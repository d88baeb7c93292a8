"""The text form of a field path, and the one parser and formatter for it.

A path names a field by its property names, joined by ``.``, with ``[]`` stepping
into an array's items: ``cards[].number``. Property names are data, so any string
must be addressable; a name that is not *plain* is written as a JSON string in
double quotes, as jq and JMESPath do: ``payment."cupsecureplus.smscode"``,
``"first name"``, ``tags."a[]"``, ``"say \\"hi\\""``. Inside quotes the JSON
escapes apply (``\\"``, ``\\\\``, ``\\n``, ``\\u00e9``).

A plain name is non-empty, printable, without spaces, and without any of
``. [ ] " \\``; unicode letters are plain (``prénom``). The formatter quotes
exactly the names that are not plain, so the common case reads as before. The
parser also accepts a plain name with inner spaces (``first name``), which older
mappings use, and quoted names that did not need quotes (``"email"``).

A property named exactly ``[]`` cannot be addressed: the segment ``"[]"`` is the
array step in :data:`shimgen.schema.model.Path_`.
"""

from __future__ import annotations

import json
import re

ARRAY = "[]"
"""The path segment that steps from an array to its items."""

_SPECIAL = frozenset('.[]"\\')
_PLAIN = re.compile(r'[^.\[\]"\\ ]+')
_DECODER = json.JSONDecoder()


class PathSyntaxError(ValueError):
    """A path text that does not parse; ``offset`` is where in the text it fails (0-based)."""

    def __init__(self, message: str, offset: int, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


def is_plain(name: str) -> bool:
    """True when ``name`` can be written without quotes."""
    return _PLAIN.fullmatch(name) is not None and name.isprintable()


def format_name(name: str) -> str:
    """One property name as a path segment: itself when plain, else a JSON string.

    Non-ASCII letters stay as they are (``"prénom nom"``); characters that are not
    printable are ``\\u`` escapes.
    """
    if is_plain(name):
        return name
    quoted = json.dumps(name, ensure_ascii=False)
    if quoted.isprintable():
        return quoted
    # a line separator, a BOM, a lone surrogate: escaped, so a path is always one printable line
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in quoted)


def format_path(path: tuple[str, ...]) -> str:
    """``("cards", "[]", "number")`` -> ``cards[].number``; odd names are quoted."""
    out: list[str] = []
    for seg in path:
        if seg == ARRAY:
            out.append(ARRAY)
        else:
            if out:
                out.append(".")
            out.append(format_name(seg))
    return "".join(out)


def parse_path(text: str) -> tuple[str, ...]:
    """``cards[].number`` -> ``("cards", "[]", "number")``.

    Raises :class:`PathSyntaxError` (a ValueError) with the offset of the first
    character that does not fit.
    """
    if not text:
        return ()
    segs: list[str] = []
    i = 0
    n = len(text)
    while True:
        i = _name(text, i, segs)
        while text.startswith(ARRAY, i):
            segs.append(ARRAY)
            i += len(ARRAY)
        if i == n:
            return tuple(segs)
        if text[i] != ".":
            c = text[i]
            if c == "[":
                raise PathSyntaxError(
                    f"`[` in `{text}` must be followed by `]`",
                    i,
                    '`[]` steps into an array\'s items; quote a name that holds brackets: `"a[0]"`',
                )
            raise PathSyntaxError(
                f"unexpected `{c}` after a name in `{text}`",
                i,
                'join names with `.`; quote a name that holds odd characters: `"a.b"`',
            )
        i += 1
        if i == n:
            raise PathSyntaxError(
                f"`{text}` ends with `.`", i - 1, "remove the trailing `.`, or name the next field"
            )


def _name(text: str, i: int, segs: list[str]) -> int:
    """Read one name at ``i`` into ``segs``; the offset after it."""
    if text.startswith('"', i):
        try:
            name, end = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            what = "is not closed" if exc.msg.startswith("Unterminated") else f"has {exc.msg}"
            raise PathSyntaxError(
                f"the quoted name in `{text}` {what}",
                exc.pos,
                'a quoted name is a JSON string: `"a.b"`, with `\\"` for a quote inside',
            ) from None
        if name == ARRAY:
            raise PathSyntaxError(
                f"a field named `[]` cannot be addressed (in `{text}`)",
                i,
                "`[]` is the array step; map the enclosing object as a whole",
            )
        segs.append(name)
        return int(end)
    start = i
    while i < len(text) and text[i] not in _SPECIAL and text[i].isprintable():
        i += 1
    if i == start:
        if i < len(text) and text[i] == "\\":
            hint = "a backslash does not escape here; quote the name: " + _unescaped(text, i)
        elif i < len(text) and text[i] in ".[":
            hint = "a path starts with a field name: `a.b`, `a[].b`"
        else:
            hint = 'quote a name that holds odd characters: `"a.b"`'
        what = f"`{text[i]}`" if i < len(text) else "the end"
        raise PathSyntaxError(f"expected a field name at {what} in `{text}`", i, hint)
    name = text[start:i]
    if name != name.strip():
        raise PathSyntaxError(
            f"the name `{name}` in `{text}` starts or ends with a space",
            start,
            f"quote it to keep the spaces: {format_name(name)}",
        )
    if i < len(text) and text[i] == "\\":
        raise PathSyntaxError(
            f"a backslash does not escape `{text[i + 1 : i + 2]}` in `{text}`",
            i,
            "quote the name instead: " + _unescaped(text, start),
        )
    if i < len(text) and not text[i].isprintable():
        raise PathSyntaxError(
            f"a control character in `{text!r}` must be quoted",
            i,
            'write the name as a JSON string: `"a\\tb"`',
        )
    segs.append(name)
    return i


def _unescaped(text: str, start: int) -> str:
    """The name a backslash-escaping author meant (``a\\.b`` -> ``"a.b"``), quoted, in its path."""
    name: list[str] = []
    i = start
    while i < len(text) and text[i] != ".":
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        name.append(text[i])
        i += 1
    return f"`{text[:start]}{format_name(''.join(name))}{text[i:]}`"
