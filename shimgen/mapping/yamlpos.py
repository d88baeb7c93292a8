"""YAML with positions: every key and value keeps its line and column.

PyYAML's composer already records marks on each node; we walk the node tree
once, building plain Python data and a table from data path to position, so
that any later stage can point a finding at the exact line of the mapping.

Scalars are resolved with the YAML 1.2 core schema (``yamlcore``): only
``true``/``false`` are booleans, so ``on``, ``yes``, ``no``, ``off``, ``y`` are
strings, and ``017`` is decimal. Keys are always strings, written as they are
spelled: property names are data (``on``, ``1``, ``0x10``, ``null``, ``~``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yamlcore.loader import CommonConstructor

try:  # the C parser is ~10x faster when libyaml is present
    from yamlcore import CCoreLoader as _Loader
except ImportError:  # pragma: no cover - depends on the wheel
    from yamlcore import CoreLoader as _Loader

DataPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Pos:
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Positions:
    """Where each key (and each value) of the document stands."""

    keys: dict[DataPath, Pos] = field(default_factory=dict)
    values: dict[DataPath, Pos] = field(default_factory=dict)
    # scalars written on one line whose text maps 1:1 onto the file: (path, is_value) ->
    # columns before the text (0 plain, 1 quoted), so a finding can point inside the text
    inline: dict[tuple[DataPath, bool], int] = field(default_factory=dict)

    def key(self, path: DataPath) -> Pos:
        """The position of the key at ``path``, or of its nearest located ancestor."""
        return self._nearest(self.keys, path)

    def value(self, path: DataPath) -> Pos:
        return self._nearest(self.values, path) if path in self.values else self.key(path)

    def inside(self, path: DataPath, offset: int, *, value: bool = False) -> Pos:
        """Where character ``offset`` of the key (or value) text at ``path`` stands.

        Exact when the scalar is on one line with no escapes; else the scalar's start.
        """
        at = self.value(path) if value else self.key(path)
        shift = self.inline.get((path, value))
        return at if shift is None else Pos(at.line, at.col + shift + offset)

    def _nearest(self, table: dict[DataPath, Pos], path: DataPath) -> Pos:
        while path:
            if path in table:
                return table[path]
            if path in self.keys:
                return self.keys[path]
            path = path[:-1]
        return table.get(()) or self.values.get((), Pos(1, 1))


@dataclass(frozen=True)
class DuplicateKey:
    path: DataPath
    first: Pos
    again: Pos


class YamlError(Exception):
    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _pos(mark: Any) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


def load_with_positions(text: str) -> tuple[Any, Positions, list[DuplicateKey]]:
    """Parse one YAML document; raise :class:`YamlError` on a syntax error."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _pos(mark) if mark is not None else Pos(1, 1)
        raise YamlError(str(exc.problem or exc).strip(), pos) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids (C0/C1 controls, ...)
        before = text[: exc.position]
        pos = Pos(before.count("\n") + 1, exc.position - before.rfind("\n"))
        raise YamlError(str(exc).splitlines()[0], pos) from None
    positions = Positions()
    dups: list[DuplicateKey] = []
    if node is None:
        return None, positions, dups
    positions.values[()] = _pos(node.start_mark)
    try:
        data = _Builder(positions, dups).build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlError(str(exc.problem), _pos(mark) if mark else Pos(1, 1)) from None
    return data, positions, dups


class _CoreConstructor(CommonConstructor):  # type: ignore[misc]  # untyped base
    """Scalars by the YAML 1.2 core schema; explicit unknown tags are errors."""


_CoreConstructor.init_constructors("core")
_scalar = _CoreConstructor()


def _inline(node: yaml.Node, text: Any) -> int | None:
    """Columns before a one-line scalar's text, when the text is spelled as it reads."""
    if not isinstance(node, yaml.ScalarNode) or not isinstance(text, str):
        return None
    start, end = node.start_mark, node.end_mark
    if start.line != end.line:
        return None
    width = end.column - start.column
    if not node.style and width == len(text):  # plain: None (Python parser) or "" (libyaml)
        return 0
    if node.style in ("'", '"') and width == len(text) + 2:
        return 1
    return None


def _key(node: yaml.Node) -> str:
    """A key as the string it spells: keys are names, never booleans or numbers."""
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    raise YamlError("a mapping key must be a plain value", _pos(node.start_mark))


def _merge(node: yaml.Node) -> bool:
    """``<<`` written plain merges (a YAML 1.1 feature kept for anchors); quoted it is a name."""
    return (
        isinstance(node, yaml.ScalarNode)
        and not node.style
        and (node.value == "<<" or node.tag == "tag:yaml.org,2002:merge")
    )


def load_yaml(text: str) -> Any:
    """Plain data of one YAML document, read like a mapping (1.2 core, string keys)."""
    return load_with_positions(text)[0]


MAX_NODES = 1_000_000
"""Values a document may expand to: aliases repeat what they name, so a few lines
(``a: &a [*b, *b, ...]``, nine deep) could otherwise stand for billions."""


class _Builder:
    """Plain data from composed nodes, with positions; aliases are followed, never in a loop."""

    def __init__(self, pos: Positions, dups: list[DuplicateKey]) -> None:
        self.pos, self.dups = pos, dups
        self.open: set[int] = set()  # the nodes being built, from the root down to here
        self.count = 0

    def build(self, node: yaml.Node, path: DataPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlError(
                f"the document expands to more than {MAX_NODES:,} values through aliases",
                _pos(node.start_mark),
            )
        if id(node) in self.open:
            raise YamlError(
                "an alias names a node that contains it (a loop)", _pos(node.start_mark)
            )
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self.open.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self.mapping(node, path)
                return self.sequence(node, path)
            finally:
                self.open.discard(id(node))
        return _scalar.construct_object(node, deep=True)

    def mapping(self, node: yaml.MappingNode, path: DataPath) -> dict[Any, Any]:
        pos = self.pos
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if _merge(key_node):  # `<<: *anchor` merges, local keys win
                merged = self.build(value_node, path)
                for part in merged if isinstance(merged, list) else [merged]:
                    if not isinstance(part, dict):
                        raise YamlError("`<<` merges mappings only", _pos(value_node.start_mark))
                    for k, v in part.items():
                        out.setdefault(k, v)
                continue
            key = _key(key_node)
            child = (*path, key)
            if key in out:
                self.dups.append(DuplicateKey(child, pos.keys[child], _pos(key_node.start_mark)))
            pos.keys[child] = _pos(key_node.start_mark)
            pos.values[child] = _pos(value_node.start_mark)
            out[key] = self.build(value_node, child)
            _note_inline(pos, child, key_node, key, value_node, out[key])
        return out

    def sequence(self, node: yaml.SequenceNode, path: DataPath) -> list[Any]:
        items = []
        for i, item in enumerate(node.value):
            child = (*path, i)
            self.pos.keys[child] = self.pos.values[child] = _pos(item.start_mark)
            items.append(self.build(item, child))
            _note_inline(self.pos, child, None, None, item, items[-1])
        return items


def _note_inline(
    pos: Positions,
    path: DataPath,
    key_node: yaml.Node | None,
    key: Any,
    value_node: yaml.Node,
    value: Any,
) -> None:
    for node, text, is_value in ((key_node, key, False), (value_node, value, True)):
        if node is not None:
            shift = _inline(node, text)
            if shift is not None:
                pos.inline[(path, is_value)] = shift
