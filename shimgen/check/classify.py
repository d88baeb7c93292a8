"""Classification of internal fields: levels, ``classification:`` and ``x-classification``.

A field's level is the nearest one on its path (a pii object makes its
fields pii); at each step the mapping's ``classification:`` entry wins over
the schema's ``x-classification``. Which levels exist is declared
(:mod:`shimgen.mapping.levels`): an unknown one, in the mapping or in
either schema, is a finding here and never reaches the plan.
"""

from __future__ import annotations

from collections.abc import Callable

from shimgen.check.plan import Reclassified
from shimgen.diagnostics import Code
from shimgen.mapping.levels import BUILTIN, LevelError, Levels, parse_levels, ruleset_levels
from shimgen.mapping.load import LoadedMapping
from shimgen.mapping.model import Mapping
from shimgen.schema.model import LoadedSchema, Path_, PathError, SchemaNode, lookup

Where = tuple[str | int, ...]
ErrorFn = Callable[..., None]
"""``Report.error(code, message, where, hint, value=...)``: the run's one way to report."""
PathFn = Callable[[str, SchemaNode, Where, str, Code], tuple[Path_, SchemaNode] | None]
"""``Resolver.path``: resolve a written path, reporting a finding when it does not exist."""


class Classifier:
    """The levels a mapping knows and the classification of each internal path."""

    def __init__(self, lm: LoadedMapping, mapping: Mapping, error: ErrorFn) -> None:
        self.lm = lm
        self.m = mapping
        self.error = error
        self.levels: Levels = BUILTIN
        self.class_paths: dict[Path_, str] = {}  # classification: entries, resolved
        self.written: dict[Path_, str] = {}  # each resolved entry's key, as written
        self.internal_root: SchemaNode | None = None

    def load_levels(self) -> None:
        """The levels this mapping knows: its ``extends:`` ruleset's, then its own ``levels:``."""
        declared: dict[str, str] = {}
        if self.m.extends is not None:
            try:
                declared.update(ruleset_levels(self.lm.path.parent / self.m.extends))
            except LevelError as exc:
                where = f"{exc.file}:{exc.line}:{exc.col}: " if exc.file else ""
                self.error(
                    Code.BAD_CLASSIFICATION,
                    f"`extends: {self.m.extends}`: {where}{exc.message}",
                    ("extends",),
                    exc.hint,
                    value=True,
                )
        try:
            declared.update(parse_levels(self.m.levels, ("levels",)))
        except LevelError as exc:
            self.error(Code.BAD_CLASSIFICATION, exc.message, exc.where, exc.hint)
        self.levels = Levels(declared)

    def resolve_paths(self, internal: LoadedSchema, path: PathFn) -> None:
        """Resolve ``classification:`` entries; each level must be known."""
        self.internal_root = internal.root
        for key, level in self.m.classification.items():
            where: Where = ("classification", key)
            if not self.levels.is_known(level):
                self.error(
                    Code.BAD_CLASSIFICATION,
                    f"unknown classification level `{level}` for `{key}`",
                    where,
                    f"known levels: {self.levels.known_text()}; declare your own under "
                    f"`levels:` (`levels: {{{level}: pii}}`)",
                    value=True,
                )
            found = path(key, internal.root, where, "internal", Code.BAD_CLASSIFICATION)
            if found is not None:
                self.class_paths[found[0]] = level
                self.written[found[0]] = key

    def reclassified(self) -> list[Reclassified]:
        """The ``classification:`` entries that say other than the schema at their path."""
        out = []
        assert self.internal_root is not None  # resolve_paths ran: class_paths are resolved
        for path, level in self.class_paths.items():
            schema = self.of(self.internal_root, path, entries=False)
            if self.levels.counts_as(schema) != self.levels.counts_as(level):
                out.append(Reclassified(self.written[path], schema, level))
        return out

    def schema_levels(self, side: str, schema: LoadedSchema) -> None:
        """Every ``x-classification`` in a schema names a known level (each place reported once).

        The finding stands on the mapping's ``schema:`` line of that side and
        names the JSON pointer of the ``x-classification`` in the schema.
        """
        seen: set[int] = set()
        reported: set[str] = set()
        todo = [schema.root]
        while todo:  # the schema graph may be cyclic: each node once
            node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            level = node.classification
            if level is not None and not self.levels.is_known(level):
                at = node.classification_at or node.source
                file, _, pointer = at.partition("#")
                shown = f"#{pointer or '/'}" if file == str(schema.path) else at
                if shown not in reported:
                    reported.add(shown)
                    self.error(
                        Code.BAD_CLASSIFICATION,
                        f"{side} schema: unknown x-classification `{level}` at {shown}",
                        (side, "schema"),
                        f"known levels: {self.levels.known_text()}; declare it under "
                        f"`levels:` (`levels: {{{level}: pii}}`) or fix the schema",
                        value=True,
                    )
            todo.extend(node.properties.values())
            todo.extend(n for n in (node.items, node.values) if n is not None)
            todo.extend(node.variants)

    def of(
        self, root: SchemaNode, path: Path_, start: int = 0, *, entries: bool = True
    ) -> str | None:
        """The nearest classification on ``path``, as written (``confidential``), or None.

        ``root`` is the node at ``path[:start]`` (the loaded root when 0), so
        a walk that already stands inside the schema need not start over.
        ``entries=False``: what the schema alone says, the mapping's entries left out.
        """
        found: str | None = None
        node = root
        if start:
            found = self.of(self.internal_root or root, path[:start], entries=entries)
        mapped = self.class_paths if entries else {}
        for i in range(start + 1, len(path) + 1):
            try:
                node = lookup(node, path[i - 1 : i])
            except PathError:
                break
            found = mapped.get(path[:i]) or node.classification or found
        return found
