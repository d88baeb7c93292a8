"""YAML with positions: every key and value keeps its line and column.

PyYAML's composer already records marks on each node; we walk the node tree
once, building plain Python data and a table from data path to position, so
that any later stage can point a finding at the exact line of the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # the C loader is ~10x faster when libyaml is present
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the wheel
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

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

    def key(self, path: DataPath) -> Pos:
        """The position of the key at ``path``, or of its nearest located ancestor."""
        return self._nearest(self.keys, path)

    def value(self, path: DataPath) -> Pos:
        return self._nearest(self.values, path) if path in self.values else self.key(path)

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
    positions = Positions()
    dups: list[DuplicateKey] = []
    if node is None:
        return None, positions, dups
    positions.values[()] = _pos(node.start_mark)
    try:
        data = _build(node, (), positions, dups)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlError(str(exc.problem), _pos(mark) if mark else Pos(1, 1)) from None
    return data, positions, dups


_scalar = yaml.constructor.SafeConstructor()


def _build(node: yaml.Node, path: DataPath, pos: Positions, dups: list[DuplicateKey]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges, local keys win
                merged = _build(value_node, path, pos, dups)
                for part in merged if isinstance(merged, list) else [merged]:
                    if not isinstance(part, dict):
                        raise YamlError("`<<` merges mappings only", _pos(value_node.start_mark))
                    for k, v in part.items():
                        out.setdefault(k, v)
                continue
            key = _build(key_node, path, pos, dups)
            if isinstance(key, (dict, list)):
                raise YamlError("a mapping key must be a plain value", _pos(key_node.start_mark))
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            if key in out:
                dups.append(DuplicateKey(child, pos.keys[child], _pos(key_node.start_mark)))
            pos.keys[child] = _pos(key_node.start_mark)
            pos.values[child] = _pos(value_node.start_mark)
            out[key] = _build(value_node, child, pos, dups)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            child = (*path, i)
            pos.keys[child] = pos.values[child] = _pos(item.start_mark)
            items.append(_build(item, child, pos, dups))
        return items
    return _scalar.construct_object(node, deep=True)
