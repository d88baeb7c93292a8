"""The runtime's three parts: what each may import, and which files ship where.

``shimgen/runtime/`` is copied into every generated package, so these rules are
what keeps a generated shim standalone and its translator light: no module
imports shimgen; core imports neither audit nor service, audit does not import
service (checked on the import graph, parsed from the source); each part uses
only the third-party packages its users declare; the files shipped are every
runtime file, found on disk, and ``shimgen translate`` copies the core alone.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

from shimgen.paths import RUNTIME_DIR
from shimgen.render import runtime as layout
from shimgen.render.generate import render_package
from shimgen.render.toolchain import TOOLS, toolchain
from shimgen.translate import loaded_translator
from tests.expected import plan_of

# The translation core (tokens and the generated models' transforms) must work with
# nothing but the standard library and cryptography; the audit trail adds orjson and
# psycopg (imported only for a PostgreSQL trail); the service may use what the generated
# package declares as runtime dependencies (templates/package/pyproject.toml.j2; anyio
# comes with starlette and httpx).
CORE_ALLOWED = frozenset(sys.stdlib_module_names) | {"cryptography"}
AUDIT_ALLOWED = CORE_ALLOWED | {"orjson", "psycopg"}
SERVICE_ALLOWED = AUDIT_ALLOWED | {
    "starlette", "uvicorn", "httpx", "jwt", "yaml", "prometheus_client", "jsonschema_rs", "anyio",
    "redis",
}  # fmt: skip
ALLOWED = {"runtime": CORE_ALLOWED, "core": CORE_ALLOWED, "audit": AUDIT_ALLOWED}
ALLOWED["service"] = SERVICE_ALLOWED


def _on_disk(root: Path = RUNTIME_DIR) -> set[str]:
    """Every file under the runtime except caches, as relative posix paths."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def test_every_runtime_file_is_a_module_of_a_part() -> None:
    """Nothing under shimgen/runtime/ is left out of the derived list (a stray file fails here)."""
    files = layout.runtime_files()
    assert len(set(files)) == len(files)
    assert set(files) == _on_disk()
    assert {layout.part_of(f) for f in files} == {"runtime", *layout.PARTS}


@pytest.mark.parametrize("path", layout.runtime_files(), ids=str)
def test_runtime_imports_only_allowed_packages(path: str) -> None:
    allowed = ALLOWED[layout.part_of(path)]
    depth = path.count("/")  # how many dots a relative import may climb and stay in the runtime
    tree = ast.parse((RUNTIME_DIR / path).read_text(encoding="utf-8"), filename=path)
    for node in ast.walk(tree):
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            assert node.level <= depth + 1, f"{where}: relative import leaves the runtime"
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top != "shimgen", f"{where}: absolute shimgen import"
            assert top in allowed, f"{where}: imports {name}"


def test_parts_import_only_lower_parts() -> None:
    edges = layout.import_graph()
    assert layout.violations(edges) == []
    parts = {edge.parts for edge in edges}
    # the graph is really read: the service uses both lower parts, audit uses core
    assert {("service", "core"), ("service", "audit"), ("audit", "core")} <= parts


def test_a_layering_violation_is_found(tmp_path: Path) -> None:
    """The rule can fail: core importing service, audit importing service, any part the top."""
    for file, text in {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/keys.py": "from ..service import app\n",
        "audit/__init__.py": "",
        "audit/trail.py": "from ..core import keys\nfrom ..service.app import build\n",
        "service/__init__.py": "",
        "service/app.py": "from .. import __version__\nfrom ..audit import trail\n",
        "service/cli.py": "from ...shimgen import paths\n",
    }.items():
        (tmp_path / file).parent.mkdir(exist_ok=True)
        (tmp_path / file).write_text(text, encoding="utf-8")
    bad = layout.violations(layout.import_graph(tmp_path))
    assert bad == [
        "core/keys.py:1: core imports service (service/app.py)",
        "audit/trail.py:2: audit imports service (service/app.py)",
        "service/app.py:1: imports __init__.py (the runtime's top)",
        "service/cli.py:1: imports ../shimgen, outside the runtime",
    ]


def test_graph_command_prints_the_parts(capsys: pytest.CaptureFixture[str]) -> None:
    assert layout.main([]) == 0
    out = capsys.readouterr().out
    assert "  core -> (no other part)\n" in out
    assert "  audit -> core: " in out and "  service -> audit: " in out
    assert out.endswith("layering violations: 0\n") and "modules:" not in out
    assert layout.main(["--modules"]) == 0
    out = capsys.readouterr().out
    assert "  core/keys.py -> core/__init__.py, core/audit_key.py, core/errors.py\n" in out


def test_generated_package_ships_every_runtime_file() -> None:
    files = render_package(plan_of("customer"))
    shipped = {
        name.removeprefix("customer_shim/runtime/")
        for name in files
        if name.startswith("customer_shim/runtime/")
    }
    assert shipped == _on_disk()
    for name in shipped:
        text = (RUNTIME_DIR / name).read_text(encoding="utf-8")
        assert files[f"customer_shim/runtime/{name}"] == text


def test_translate_copies_the_core_only() -> None:
    with loaded_translator(plan_of("customer")) as mod:
        runtime = Path(str(mod.__file__)).parent / "runtime"
        copied = {p.relative_to(runtime).as_posix() for p in runtime.rglob("*.py")}
    assert copied == set(layout.runtime_files(["core"]))
    assert all(layout.part_of(f) in ("runtime", "core") for f in copied)


def test_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown runtime part"):
        layout.runtime_files(["cli"])


def test_every_part_ships_in_shimgen_wheel() -> None:
    """setuptools lists packages explicitly: a part missing there is missing from the wheel."""
    pyproject = tomllib.loads((RUNTIME_DIR.parents[1] / "pyproject.toml").read_text("utf-8"))
    packages = set(pyproject["tool"]["setuptools"]["packages"])
    assert {f"shimgen.runtime.{part}" for part in layout.PARTS} <= packages


@pytest.mark.parametrize("tool", TOOLS)
def test_tools_that_write_generated_files_are_pinned_around_the_installed_version(
    tool: str,
) -> None:
    """A lower and an upper bound, and what is installed (and tested) lies between them."""
    pyproject = tomllib.loads((RUNTIME_DIR.parents[1] / "pyproject.toml").read_text("utf-8"))
    spec = next(d for d in pyproject["project"]["dependencies"] if d.startswith(f"{tool}>"))
    match = re.fullmatch(rf"{re.escape(tool)}>=([\d.]+),<([\d.]+)", spec)
    assert match, f"{spec}: pin {tool} as >=LOW,<HIGH"
    low, high = match.groups()
    installed = _numbers(toolchain()[tool])
    assert _numbers(low) <= installed < _numbers(high), (spec, installed)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


@pytest.mark.parametrize(
    ("argv0", "named"),
    [
        ("/venv/bin/hr-shim", "hr-shim"),  # the installed script, as the package README uses it
        ("/venv/Scripts/hr-shim.exe", "hr-shim"),  # the script on Windows
        ("/src/hr_shim/hr_shim/__main__.py", "python -m hr_shim"),  # python -m hr_shim
        ("/venv/bin/pytest", "python -m hr_shim"),  # another program importing the package
        ("/venv/bin/customer-shim", "python -m hr_shim"),
        ("-c", "python -m hr_shim"),
        ("", "python -m hr_shim"),
    ],
)
def test_messages_name_the_command_as_typed(
    argv0: str, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Suggested commands run as printed: the script when it started us, else ``python -m``."""
    from shimgen.runtime.core import invoked_as

    monkeypatch.setattr(sys, "argv", [argv0, "audit", "verify"])
    assert invoked_as("hr_shim") == named
