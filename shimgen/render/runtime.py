"""The runtime copied into generated packages: its files, its parts and their import graph.

The list of runtime files is derived from ``shimgen/runtime/`` itself, never
declared: a module added there reaches every generated package (and the lock)
without a second edit. The runtime has three parts (``core``, ``audit``,
``service``; see ``shimgen/runtime/__init__.py``); ``shimgen translate`` copies
only ``core``. The layering rule (core imports neither other part, audit does
not import service) is checked by ``tests/test_runtime_layout.py`` over
:func:`import_graph`, and ``python -m shimgen.render.runtime`` prints that graph
so anyone can see it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shimgen.paths import RUNTIME_DIR

PARTS = ("core", "audit", "service")
"""The runtime's parts, lowest first: a part may import only parts before it."""
TOP = "__init__.py"
"""The runtime package's own ``__init__`` (its docstring and ``__version__``), outside any part."""


def runtime_files(parts: Iterable[str] = PARTS, root: Path = RUNTIME_DIR) -> tuple[str, ...]:
    """Every runtime source file of ``parts`` (and the top ``__init__.py``), relative posix paths.

    Only ``*.py`` files in a part's directory: caches and stray files never ship.
    """
    wanted = tuple(parts)
    unknown = set(wanted) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown runtime part(s): {', '.join(sorted(unknown))}")
    found = [TOP]
    for part in wanted:
        found += [f"{part}/{p.name}" for p in sorted((root / part).glob("*.py"))]
    return tuple(found)


@dataclass(frozen=True)
class Edge:
    """One relative import inside the runtime: ``source`` imports ``target`` at ``line``."""

    source: str  # "service/app.py"
    target: str  # "audit/trail.py", or "core/__init__.py" for a name defined there
    line: int

    @property
    def parts(self) -> tuple[str, str]:
        return part_of(self.source), part_of(self.target)


def part_of(file: str) -> str:
    """``core``/``audit``/``service`` for a file in a part; ``runtime`` for the top ``__init__``."""
    head, _, rest = file.partition("/")
    return head if rest else "runtime"


def import_graph(root: Path = RUNTIME_DIR) -> list[Edge]:
    """Every relative import between runtime files, resolved to the file it loads."""
    edges: list[Edge] = []
    for file in runtime_files(PARTS, root):
        tree = ast.parse((root / file).read_text(encoding="utf-8"), filename=file)
        package = Path(file).parent
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                edges += [
                    Edge(file, target, node.lineno) for target in _targets(node, package, root)
                ]
    return edges


def _targets(node: ast.ImportFrom, package: Path, root: Path) -> list[str]:
    """The files ``from <dots><module> import <names>`` in ``package`` loads."""
    climb = node.level - 1
    if climb > len(package.parts):  # above the runtime's top: named as it is written
        return ["../" * (climb - len(package.parts)) + (node.module or "").replace(".", "/")]
    base = Path(*package.parts[: len(package.parts) - climb])
    if node.module:
        base = base.joinpath(*node.module.split("."))
        module = base.with_suffix(".py")
        if (root / module).is_file():
            return [module.as_posix()]
    # `from <package> import x`: the module x, or a name the package's __init__ defines
    out = []
    for alias in node.names:
        module = base / f"{alias.name}.py"
        out.append(module.as_posix() if (root / module).is_file() else (base / TOP).as_posix())
    return out


def violations(edges: Iterable[Edge]) -> list[str]:
    """Imports that break the layering: a part importing a later part or the top ``__init__``,
    or a relative import that climbs out of the runtime."""
    rank = {part: i for i, part in enumerate(PARTS)}
    bad = []
    for edge in edges:
        source, target = edge.parts
        if target not in rank and target != "runtime":
            bad.append(f"{edge.source}:{edge.line}: imports {edge.target}, outside the runtime")
        elif target == "runtime" or source == "runtime":
            bad.append(f"{edge.source}:{edge.line}: imports {edge.target} (the runtime's top)")
        elif rank[target] > rank[source]:
            bad.append(f"{edge.source}:{edge.line}: {source} imports {target} ({edge.target})")
    return bad


def render_graph(edges: list[Edge], modules: bool = False) -> str:
    """The graph by part (which parts import which, with the modules), then, if asked,
    each module's imports, and the count of layering violations (each named)."""
    lines = ["runtime import graph by part (shimgen/runtime/):"]
    for source in PARTS:
        for target in PARTS:
            mods = sorted({e.source for e in edges if e.parts == (source, target)})
            if mods and source != target:
                lines.append(f"  {source} -> {target}: {', '.join(mods)}")
        if not any(e.parts[0] == source and e.parts[1] != source for e in edges):
            lines.append(f"  {source} -> (no other part)")
    if modules:
        lines.append("modules:")
        for file in runtime_files():
            targets = sorted({e.target for e in edges if e.source == file})
            lines.append(f"  {file} -> {', '.join(targets) if targets else '-'}")
    bad = violations(edges)
    lines.append(f"layering violations: {len(bad)}")
    lines += [f"  {line}" for line in bad]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the graph; exit 1 if the layering is broken."""
    parser = argparse.ArgumentParser(
        prog="python -m shimgen.render.runtime",
        description="Print the import graph of shimgen/runtime/ by part (core, audit, service).",
    )
    parser.add_argument("--modules", action="store_true", help="also list each module's imports")
    args = parser.parse_args(argv)
    edges = import_graph()
    print(render_graph(edges, modules=args.modules))
    return 1 if violations(edges) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
