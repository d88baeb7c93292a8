"""The typed code model of translate.py: one class and one macro per statement kind.

Each statement kind of ``shimgen.render.codemodel`` is a frozen dataclass, rendered by the
macro of the same name; a kind with no macro fails at render time (the old ``if/elif``
rendered nothing for it), and a macro with no class is dead. The render modules import one
another without a cycle (``codegen`` and ``inbound`` used to import each other, one of them
inside a function).
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import jinja2
import pytest

from shimgen.render import codemodel as cm
from shimgen.render.generate import Meta, environment

RENDER = Path(cm.__file__).parent
META = Meta("demo", "demo_shim", 1, "", "", "0", "demo.shim.yaml", "0" * 64, ())


def kinds(base: type[cm.Node]) -> dict[str, type[cm.Node]]:
    """Every concrete class under ``base`` (one with a ``kind``), by kind."""
    found: dict[str, type[cm.Node]] = {}
    seen: set[type[cm.Node]] = set()
    todo = list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls in seen:  # reached twice through two bases (Reads and Writes)
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if cls.__module__ == cm.__name__ and cls.kind:
            assert cls.kind not in found, f"two classes of kind {cls.kind!r}"
            found[cls.kind] = cls
    return found


def exported_macros(env: jinja2.Environment, template: str) -> set[str]:
    module = env.get_template(template).module
    return {k for k, v in vars(module).items() if isinstance(v, jinja2.runtime.Macro)}


def render(*body: cm.Node) -> str:
    module = cm.Module(functions=[cm.Function("_f", "A function.", "v: Any, p: str", list(body))])
    return environment().get_template("package/translate.py.j2").render(meta=META, module=module)


def test_every_kind_has_one_macro_and_every_macro_a_kind() -> None:
    env = environment()
    groups = kinds(cm.UnionGroup)
    statements = {k: c for k, c in kinds(cm.Node).items() if not issubclass(c, cm.UnionGroup)}
    assert set(statements) == exported_macros(env, cm.STATEMENT_MACROS)
    assert set(groups) == exported_macros(env, cm.UNION_GROUP_MACROS)
    assert len(statements) >= 20 and len(groups) == 5


def test_every_statement_is_a_frozen_dataclass() -> None:
    for cls in kinds(cm.Node).values():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Bogus(cm.Node):
    kind: ClassVar[str] = "bogus_kind"


@dataclass(frozen=True)
class BogusGroup(cm.UnionGroup):
    kind: ClassVar[str] = "bogus_group"


def test_an_unknown_statement_kind_fails_the_render_naming_it() -> None:
    with pytest.raises(cm.UnknownStatement, match="'bogus_kind' \\(Bogus\\)"):
        render(cm.NewObject(var="o"), Bogus())


def test_an_unknown_union_group_kind_fails_the_render_naming_it() -> None:
    union = cm.CopyUnion(nullable=False, groups=(BogusGroup(test="c is int"),), names="x")
    with pytest.raises(cm.UnknownStatement, match="'bogus_group'"):
        render(union)


def test_a_node_without_a_kind_fails_the_render() -> None:
    with pytest.raises(cm.UnknownStatement):
        render(cm.Node())


def test_an_inbound_store_follows_the_internal_path() -> None:
    """A flat internal field is assigned, a nested one goes through ``_s.put`` (a typed
    path, where the template used to test the text of a half-built statement)."""
    where = {"comment": "c", "src": "d", "key": "k", "ptr": "/k", "expr": "v", "nullable": True}
    flat, nested = cm.InLeaf(put=("a",), **where), cm.InLeaf(put=("a", "b"), **where)
    assert "o['a'] = v\n" in render(flat) and "o['a'] = None\n" in render(flat)
    text = render(nested)
    assert "_s.put(o, ('a', 'b'), v)\n" in text and "_s.put(o, ('a', 'b'), None)\n" in text
    items = render(cm.InArray(src="d", key="k", ptr="/k", put=("a", "b"), fn="_item"))
    assert "_s.put(o, ('a', 'b'), [_item(e, p + '/k/' + str(i), errs) for i" in items


def test_a_copy_sets_the_pointer_only_for_an_element_copier() -> None:
    plain, nested = cm.CopyArray(check="", copier=""), cm.CopyArray(check="", copier="_copy_x")
    plain_map = cm.CopyMap(check="", copier="")
    assert "q = " not in render(plain) and "out.append(v)" in render(plain)
    assert 'q = f"{p}/{i}"' in render(nested) and "out.append(_copy_x(v, q))" in render(nested)
    assert "q = " not in render(plain_map) and "out[k] = v" in render(plain_map)


def _imports(path: Path) -> set[str]:
    """The shimgen.render modules a file imports, at any depth (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "shimgen.render":
                found |= {f"shimgen.render.{a.name}" for a in node.names}
            elif node.module.startswith("shimgen.render."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("shimgen.render.")}
    return found


def test_the_render_modules_import_each_other_without_a_cycle() -> None:
    graph = {f"shimgen.render.{p.stem}": _imports(p) for p in RENDER.glob("*.py")}
    state: dict[str, int] = {}

    def visit(module: str, stack: tuple[str, ...]) -> None:
        if state.get(module) == 1:
            pytest.fail("import cycle: " + " -> ".join((*stack, module)))
        if state.get(module) == 2:
            return
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            visit(dep, (*stack, module))
        state[module] = 2

    for module in sorted(graph):
        visit(module, ())
    assert "shimgen.render.codemodel" in graph["shimgen.render.codegen"]
