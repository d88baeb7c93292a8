"""Write a standalone shim package from a checked plan.

render (Jinja2 templates over the code model) -> format (``ruff format``, black's
style; see ``formatting``) -> write. The generated tests' fixtures (canary records,
what each view must not show, inbound pairs) are JSON data files beside the tests,
written with ``json.dumps`` and never formatted: on a large schema they are the
biggest thing generated, and as Python literals they made formatting the slowest step.
Everything written is a pure function of the mapping, the two schemas, the
shimgen version and the toolchain the lock records (runtime version, ruff,
datamodel-code-generator), so regenerating gives byte-identical files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2

from shimgen import __version__
from shimgen.check.plan import ShimPlan
from shimgen.diagnostics import one_line
from shimgen.paths import RUNTIME_DIR, TEMPLATES_DIR
from shimgen.render.canary import canary_record, forbidden
from shimgen.render.codegen import Generator, pointer_expr
from shimgen.render.codemodel import macro_for
from shimgen.render.example import run_example
from shimgen.render.fixtures import fixture_file, inbound_pairs
from shimgen.render.formatting import fmt
from shimgen.render.httpcanary import valid_canary
from shimgen.render.models import pydantic_models
from shimgen.render.openapi import elevated_groups, endpoints, openapi_document
from shimgen.render.runtime import runtime_files
from shimgen.render.servicespec import ENV_VARS, route_views, sends, service_context
from shimgen.render.toolchain import toolchain
from shimgen.schema.model import format_path


def package_name(plan: ShimPlan) -> str:
    return plan.name.replace("-", "_") + "_shim"


def project_root(path: Path) -> Path:
    """The nearest ancestor holding a pyproject.toml or .git: paths in the lock are relative to it."""
    for parent in path.resolve().parents:
        if (parent / "pyproject.toml").exists() or (parent / ".git").exists():
            return parent
    return path.resolve().parent


def rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with ``..`` steps for a file outside it.

    A schema kept outside the project (a shared folder of schemas) is recorded as
    the way there from the root, so ``verify`` finds it again; recording only its
    name made every such shim unverifiable.
    """
    return Path(os.path.relpath(path.resolve(), root)).as_posix()


@dataclass(frozen=True)
class Meta:
    name: str
    package: str
    version: int
    description: str
    owner: str
    generator: str
    mapping_file: str
    mapping_sha256: str
    groups: tuple[str, ...]


def comment(text: object) -> str:
    """``text`` for a generated ``#`` comment: one line (:func:`~shimgen.diagnostics.one_line`).

    Text from the schemas and the mapping (enum values, definition names, descriptions,
    paths) is shown in generated comments and docstrings; a line break in it would end
    the comment and make the rest of the text code (red-team, sixth pass).
    """
    return one_line(str(text))


def docstring(text: object) -> str:
    """``text`` safe between triple quotes: one line, backslashes and quotes escaped."""
    return comment(text).replace("\\", "\\\\").replace('"', '\\"')


@functools.cache
def environment() -> jinja2.Environment:
    """One environment per process: templates are parsed once, not on every render."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    env.filters["ptrexpr"] = pointer_expr
    env.filters["comment"] = comment  # after `#`: a line break would end the comment
    env.filters["docstring"] = docstring  # inside triple quotes
    env.filters["json"] = lambda v: json.dumps(v, indent=2, sort_keys=True)
    env.globals["macro_for"] = macro_for  # translate.py.j2: one macro per statement kind
    return env


def render_translate(plan: ShimPlan, meta: Meta, env: jinja2.Environment | None = None) -> str:
    env = env or environment()
    module = Generator(plan).build()
    return fmt(env.get_template("package/translate.py.j2").render(meta=meta, module=module))


def make_meta(plan: ShimPlan) -> Meta:
    root = project_root(plan.mapping_path)
    return Meta(
        plan.name,
        package_name(plan),
        plan.version,
        plan.description,
        plan.owner,
        __version__,
        rel(plan.mapping_path, root),
        plan.mapping_sha256,
        tuple(plan.groups),
    )


def render_package(plan: ShimPlan) -> dict[str, str]:
    """Every file of the package, by relative path (posix)."""
    env = environment()
    meta = make_meta(plan)
    pkg = meta.package
    files: dict[str, str] = {}
    files[f"{pkg}/translate.py"] = render_translate(plan, meta, env)
    internal_models = pydantic_models(
        plan.internal.path, plan.internal.model, _schema_label(plan, "internal")
    )
    files[f"{pkg}/internal_models.py"] = internal_models
    same = (plan.internal.path.resolve(), plan.internal.model) == (
        plan.external.path.resolve(),
        plan.external.model,
    )  # a shim onto the same model (a filtering shim) models it once
    files[f"{pkg}/external_models.py"] = (
        internal_models
        if same
        else pydantic_models(
            plan.external.path, plan.external.model, _schema_label(plan, "external")
        )
    )
    for name in runtime_files():  # all three parts: the service needs them all
        files[f"{pkg}/runtime/{name}"] = (RUNTIME_DIR / name).read_text(encoding="utf-8")
    doc = openapi_document(plan)
    files[f"{pkg}/openapi.json"] = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    record = canary_record(plan)
    http_record, unfit = valid_canary(record, doc["components"])
    inbound = inbound_pairs(plan)
    files["tests/canary.json"] = fixture_file(
        f"Generated by shimgen {__version__}: the canary record of tests/test_translate.py.",
        record,
        forbidden(plan, record),
        inbound,
    )
    files["tests/http_canary.json"] = fixture_file(
        f"Generated by shimgen {__version__}: the schema-valid canary of the service tests;"
        " unfit lists what the internal schema still refuses, if anything.",
        http_record,
        forbidden(plan, http_record),
        inbound,
        unfit=unfit,
    )
    elevated = bool(elevated_groups(plan))  # their tests and README section
    context = {
        "elevated": elevated,
        "service": service_context(plan),
        "env_vars": ENV_VARS,
        "endpoints": endpoints(doc),
        "meta": meta,
        "views": field_table(plan),
        "routes": [asdict(view) for view in route_views(plan)],
        "example": run_example(
            plan, files[f"{pkg}/translate.py"], doc, http_record, unfit, inbound
        ),
    }
    for template, target in (
        ("package/__init__.py.j2", f"{pkg}/__init__.py"),
        ("package/pyproject.toml.j2", "pyproject.toml"),
        ("package/README.md.j2", "README.md"),
        ("package/test_translate.py.j2", "tests/test_translate.py"),
        ("package/app.py.j2", f"{pkg}/app.py"),
        ("package/__main__.py.j2", f"{pkg}/__main__.py"),
        ("package/Dockerfile.j2", "Dockerfile"),
        ("package/dockerignore", ".dockerignore"),
        ("package/deploy/kubernetes.yaml.j2", "deploy/kubernetes.yaml"),
        ("package/deploy/prometheus-rules.yaml.j2", "deploy/prometheus-rules.yaml"),
        ("package/deploy/pod-monitor.yaml.j2", "deploy/pod-monitor.yaml"),
        ("package/tests/conftest.py.j2", "tests/conftest.py"),
        ("package/tests/test_service.py.j2", "tests/test_service.py"),
        ("package/tests/test_audit_trail.py.j2", "tests/test_audit_trail.py"),
        ("package/tests/test_schemathesis.py.j2", "tests/test_schemathesis.py"),
        *([("package/tests/test_access.py.j2", "tests/test_access.py")] if elevated else []),
    ):
        text = env.get_template(template).render(**context)
        files[target] = fmt(text) if target.endswith(".py") else text
    files["tests/__init__.py"] = ""  # the generated tests share helpers through tests/conftest.py
    files["SHIM.lock.json"] = lock(plan, meta, files)
    return files


def _schema_label(plan: ShimPlan, side: str) -> str:
    schema = plan.internal if side == "internal" else plan.external
    return rel(schema.path, project_root(plan.mapping_path))


def lock(plan: ShimPlan, meta: Meta, files: dict[str, str]) -> str:
    """SHIM.lock.json: the inputs' hashes (for verify) and each generated file's hash."""
    root = project_root(plan.mapping_path)
    data: dict[str, Any] = {
        "generator": f"shimgen {__version__}",
        # What else decides the files: the copied runtime and the tools that write and
        # format them, so that `shimgen verify` can name the one that changed.
        "toolchain": toolchain(),
        "shim": plan.name,
        "mapping": {
            "path": meta.mapping_file,
            "version": plan.version,
            "sha256": plan.mapping_sha256,
        },
        "internal": {
            "path": rel(plan.internal.path, root),
            "model": plan.internal.model,
            "sha256": plan.internal.sha256,
        },
        "external": {
            "path": rel(plan.external.path, root),
            "model": plan.external.model,
            "sha256": plan.external.sha256,
        },
        # Every file generation read (the mapping, both schemas and what they $ref), so that
        # `shimgen verify` names exactly the input that changed.
        "inputs": input_hashes(plan),
        "files": {
            name: hashlib.sha256(text.encode()).hexdigest() for name, text in sorted(files.items())
        },
    }
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def input_hashes(plan: ShimPlan) -> dict[str, str]:
    """SHA-256 of every input file, by path relative to the project root."""
    root = project_root(plan.mapping_path)
    paths = {plan.mapping_path.resolve(), *plan.internal.files, *plan.external.files}
    return {
        rel(path, root): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(paths, key=lambda p: rel(p, root))
    }


def field_table(plan: ShimPlan) -> list[dict[str, Any]]:
    """Rows for the generated README: one per rule, then one per derived field; a cell per view."""
    rows = [
        {
            "internal": f"`{r.label}`",
            "external": format_path(r.external) if r.out_node is not None else "",
            "cells": [str(r.treatment(v)) for v in plan.views],
            "inbound": any(sends(r, v) for v in plan.views),
        }
        for r in plan.rules
    ]
    for d in plan.derived:
        sources = ", ".join(f"`{format_path(s)}`" for s in d.sources)
        rows.append(
            {
                "internal": f"derived from {sources}" if sources else "derived (a constant)",
                "external": format_path(d.external),
                "cells": [d.kind if d.emitted(v) else "drop" for v in plan.views],
                "inbound": False,
            }
        )
    return rows


def write_package(plan: ShimPlan, out: Path) -> list[Path]:
    """Write (replacing) the package directory; returns the files written."""
    files = render_package(plan)
    if out.is_symlink():  # replacing it would follow the link (and rmtree refuses links)
        raise FileExistsError(f"{out} is a symbolic link; give the directory it names instead")
    if out.exists() and any(out.iterdir()):
        if not (out / "SHIM.lock.json").exists():
            raise FileExistsError(
                f"{out} is not empty and holds no generated shim; refusing to replace it"
            )
        shutil.rmtree(out)
    written = []
    for name, text in sorted(files.items()):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
