"""``shimgen translate``: run a mapping over NDJSON without deploying a service.

It renders the same ``translate.py`` that ``generate`` writes, with the same
runtime, into a private temporary package and imports it, so the command and
the deployed shim can never disagree. Input is streamed line by line.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import orjson

from shimgen.check.plan import ShimPlan
from shimgen.paths import RUNTIME_DIR
from shimgen.render.generate import RUNTIME_FILES, make_meta, render_translate


class TranslateSetupError(Exception):
    """Keys missing, unknown group: nothing could be translated."""


@contextmanager
def loaded_translator(plan: ShimPlan) -> Iterator[ModuleType]:
    """Import the rendered translator for ``plan`` from a temporary package."""
    meta = make_meta(plan)
    tmp = Path(tempfile.mkdtemp(prefix="shimgen-"))
    name = f"_shimgen_{meta.package}_{meta.mapping_sha256[:12]}"
    pkg = tmp / name
    (pkg / "runtime").mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "translate.py").write_text(render_translate(plan, meta), encoding="utf-8")
    for file in RUNTIME_FILES:
        shutil.copyfile(RUNTIME_DIR / file, pkg / "runtime" / file)
    sys.path.insert(0, str(tmp))
    try:
        yield importlib.import_module(f"{name}.translate")
    finally:
        sys.path.remove(str(tmp))
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]
        shutil.rmtree(tmp, ignore_errors=True)


def run(
    plan: ShimPlan,
    source: Path | None,
    *,
    group: str | None,
    inbound: bool,
    dev_keys: bool,
    out: IO[bytes] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Translate every line; returns how many lines failed."""
    if group is not None and group not in plan.groups:
        raise TranslateSetupError(
            f"unknown group `{group}`; declared: {', '.join(plan.groups) or 'none'}"
        )
    out = out or sys.stdout.buffer
    err = err or sys.stderr
    with loaded_translator(plan) as mod:
        package = mod.__name__.rpartition(".")[0]
        keys: Any = importlib.import_module(package + ".runtime.keys")
        try:
            keys.install(keys.Keyset.ephemeral() if dev_keys else keys.load_keyset())
        except keys.KeysetError as exc:
            raise TranslateSetupError(str(exc)) from None
        fn = mod.to_internal if inbound else mod.to_external
        errors_mod: Any = importlib.import_module(package + ".runtime.errors")
        failures = 0
        stream = source.open("rb") if source else sys.stdin.buffer
        try:
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                    out.write(orjson.dumps(fn(record, group)) + b"\n")
                except orjson.JSONDecodeError as exc:
                    failures += 1
                    err.write(f"line {number}: malformed JSON at column {exc.colno}\n")
                except errors_mod.TranslationError as exc:
                    failures += 1
                    for problem in exc.problems:
                        err.write(f"line {number}: {problem.pointer}: {problem.message}\n")
                except (TypeError, AttributeError):
                    failures += 1
                    err.write(f"line {number}: expected a JSON object\n")
        finally:
            if source:
                stream.close()
            keys.reset()
    return failures
