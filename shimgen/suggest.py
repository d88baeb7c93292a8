"""``shimgen init --suggest``: the likely external target of each internal field.

A suggestion is a hint in a comment, never a decision: ``init`` still writes every
field as ``drop``. Candidates, best first:

1. the same path in the external schema (``same name``);
2. the same words in another case convention (``user_name`` -> ``userName``);
3. the same leaf name (in any convention) under another parent
   (``address.zip`` -> ``contact.address.zip``): the longest shared tail first,
   then the parent with the most words in common, the shortest path, the path
   text; a leaf name found under several unrelated parents suggests nothing;

and a candidate whose type cannot hold the internal field's values is skipped
(an integer may go to a number; a string with a format to a string with the
same format or none). Every external leaf is indexed once, so the cost is linear
in the two schemas' sizes plus the candidates one leaf name has.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=65536)  # names repeat across a schema: `id`, `name`, `value`
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
    """Whether the external field can hold the internal field's values, roughly.

    Arrays compare their items, level by level; an array that holds itself
    (``A = array of A``) stops at the first level seen twice.
    """
    seen: set[tuple[int, int]] = set()
    while (id(inside), id(outside)) not in seen:
        seen.add((id(inside), id(outside)))
        if outside.kind is Kind.ANY:
            return True
        if inside.kind is not outside.kind:
            return inside.kind is Kind.INTEGER and outside.kind is Kind.NUMBER
        if inside.kind is Kind.STRING and outside.format and outside.format != inside.format:
            return False
        if inside.kind is not Kind.ARRAY or inside.items is None or outside.items is None:
            return True
        inside, outside = inside.items, outside.items
    return True


@dataclass(frozen=True)
class _Candidate:
    """An external leaf, with what ranking it needs computed once."""

    leaf: Leaf
    key: tuple[tuple[str, ...], ...]
    parent_words: frozenset[str]
    text: str


class Suggester:
    """Index the external leaves once; then :meth:`targets` for the internal leaves."""

    def __init__(self, external: SchemaNode) -> None:
        self.exact: dict[Path_, SchemaNode] = {}
        self.by_words: dict[tuple[tuple[str, ...], ...], list[Leaf]] = defaultdict(list)
        self.by_leaf: dict[tuple[str, ...], list[_Candidate]] = defaultdict(list)
        for leaf in iter_leaves(external):
            key = _key(leaf.path)
            self.exact[leaf.path] = leaf.node
            self.by_words[key].append(leaf)
            parents = _parent_words(key)
            self.by_leaf[key[-1]].append(_Candidate(leaf, key, parents, format_path(leaf.path)))

    def targets(self, leaves: list[Leaf]) -> list[Suggestion | None]:
        """A suggestion per internal leaf, in order.

        Name matches go first, for every leaf; an external field one of them takes
        is not offered again as a same-leaf guess (``enterprise.id`` does not get
        the root ``id`` that the internal ``id`` matches by name).
        """
        named = [self._by_name(leaf) for leaf in leaves]
        claimed = {s.path for s in named if s is not None}
        return [
            found or self._same_leaf(leaf, _key(leaf.path), claimed)
            for leaf, found in zip(leaves, named, strict=True)
        ]

    def _by_name(self, leaf: Leaf) -> Suggestion | None:
        node = self.exact.get(leaf.path)
        if node is not None and fits(leaf.node, node):
            return Suggestion(leaf.path, "same name")
        key = _key(leaf.path)
        for other in self.by_words.get(key, ()):
            if other.path != leaf.path and fits(leaf.node, other.node):
                style = convention(other.path[-1])
                return Suggestion(other.path, f"same name, {style}" if style else "same words")
        return None

    def _same_leaf(
        self, leaf: Leaf, key: tuple[tuple[str, ...], ...], claimed: set[Path_]
    ) -> Suggestion | None:
        """The same leaf name elsewhere: the longest shared tail of the path first, then
        the most parent words in common, then the shortest path, then the path text.

        A parent that shares no word with this one's is a guess, not a likely
        target (``text.status`` -> ``subscriptions.data[].status``), unless the
        field moves to or from the root (``address.zip`` <-> ``zip``) and the
        leaf name is found there once.
        """
        parents = _parent_words(key)
        best: tuple[int, int, int, str] | None = None
        found: Leaf | None = None
        fitting = 0
        for other in self.by_leaf.get(key[-1], ()):
            if (
                other.leaf.path == leaf.path
                or other.leaf.path in claimed
                or not fits(leaf.node, other.leaf.node)
            ):
                continue
            fitting += 1
            rank = (
                -_shared_tail(key, other.key),
                -len(parents & other.parent_words),
                len(other.key),
                other.text,
            )
            if best is None or rank < best:
                best, found = rank, other.leaf
        if found is None or best is None:
            return None
        if best[1] == 0 and (fitting > 1 or (len(key) > 1 and len(found.path) > 1)):
            return None  # no parent word in common: only a move to or from the root is likely
        parent = format_path(found.path[:-1]) or "the root"
        return Suggestion(found.path, f"same leaf under {parent}")


def _parent_words(key: tuple[tuple[str, ...], ...]) -> frozenset[str]:
    return frozenset(w for part in key[:-1] for w in part if part != (ARRAY,))


def _shared_tail(a: tuple[object, ...], b: tuple[object, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n
