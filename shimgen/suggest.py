"""``shimgen init --suggest``: the likely external target of each internal field.

A suggestion is a hint in a comment, never a decision: ``init`` still writes every
field as ``drop``. Candidates, best first:

1. the same path in the external schema (``same name``);
2. the same words in another case convention (``user_name`` -> ``userName``);
3. the same leaf name (in any convention) under another parent
   (``address.zip`` -> ``contact.zip``), the parent with the most words in common
   first, then the shortest path, then the path text;

and a candidate whose type cannot hold the internal field's values is skipped
(an integer may go to a number; a string with a format to a string with the
same format or none). Every external leaf is indexed once, so the cost is linear
in the two schemas' sizes plus the candidates one leaf name has.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from shimgen.schema.model import ARRAY, Kind, Leaf, Path_, SchemaNode, format_path, iter_leaves

_SEPARATORS = re.compile(r"[\s_\-.]+")
_HUMPS = re.compile(r"(?<=[^\W_])(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])")

CONVENTIONS = (
    ("snake_case", re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")),
    ("kebab-case", re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)+")),
    ("camelCase", re.compile(r"[a-z][a-z0-9]*([A-Z][a-z0-9]*)+")),
    ("PascalCase", re.compile(r"([A-Z][a-z0-9]*){2,}|[A-Z][a-z0-9]+")),
)


def words(name: str) -> tuple[str, ...]:
    """The words of a name in any convention: ``userName``, ``user_name``, ``User-Name``."""
    spaced = _HUMPS.sub(" ", _SEPARATORS.sub(" ", name))
    return tuple(w.casefold() for w in spaced.split())


def convention(name: str) -> str:
    """The case convention ``name`` is written in, for the comment; '' when none fits."""
    for label, pattern in CONVENTIONS:
        if pattern.fullmatch(name):
            return label
    return ""


def _key(path: Path_) -> tuple[tuple[str, ...], ...]:
    return tuple((ARRAY,) if seg == ARRAY else words(seg) or (seg,) for seg in path)


@dataclass(frozen=True)
class Suggestion:
    """An external path for one internal field, and why it is likely."""

    path: Path_
    reason: str

    def comment(self) -> str:
        return f"likely -> {format_path(self.path)} ({self.reason})"


def fits(inside: SchemaNode, outside: SchemaNode) -> bool:
    """Whether the external field can hold the internal field's values, roughly."""
    if outside.kind is Kind.ANY:
        return True
    if inside.kind is not outside.kind:
        return inside.kind is Kind.INTEGER and outside.kind is Kind.NUMBER
    if inside.kind is Kind.STRING and outside.format and outside.format != inside.format:
        return False
    if inside.kind is Kind.ARRAY and inside.items is not None and outside.items is not None:
        return fits(inside.items, outside.items)
    return True


class Suggester:
    """Index the external leaves once; then :meth:`target` per internal leaf."""

    def __init__(self, external: SchemaNode) -> None:
        self.exact: dict[Path_, SchemaNode] = {}
        self.by_words: dict[tuple[tuple[str, ...], ...], list[Leaf]] = defaultdict(list)
        self.by_leaf: dict[tuple[str, ...], list[Leaf]] = defaultdict(list)
        for leaf in iter_leaves(external):
            self.exact[leaf.path] = leaf.node
            self.by_words[_key(leaf.path)].append(leaf)
            self.by_leaf[_key(leaf.path[-1:])[0]].append(leaf)

    def target(self, leaf: Leaf) -> Suggestion | None:
        node = self.exact.get(leaf.path)
        if node is not None and fits(leaf.node, node):
            return Suggestion(leaf.path, "same name")
        key = _key(leaf.path)
        for other in self.by_words.get(key, ()):
            if other.path != leaf.path and fits(leaf.node, other.node):
                style = convention(other.path[-1])
                return Suggestion(other.path, f"same name, {style}" if style else "same words")
        return self._same_leaf(leaf, key)

    def _same_leaf(self, leaf: Leaf, key: tuple[tuple[str, ...], ...]) -> Suggestion | None:
        parents = {w for part in key[:-1] for w in part}
        best: tuple[int, int, str, Leaf] | None = None
        for other in self.by_leaf.get(key[-1], ()):
            if other.path == leaf.path or not fits(leaf.node, other.node):
                continue
            theirs = {w for part in _key(other.path[:-1]) for w in part}
            rank = (-len(parents & theirs), len(other.path), format_path(other.path), other)
            if best is None or rank[:3] < best[:3]:
                best = rank
        if best is None:
            return None
        found = best[3]
        parent = format_path(found.path[:-1]) or "the root"
        return Suggestion(found.path, f"same leaf under {parent}")
