"""``shimgen translate``: run a mapping over NDJSON without deploying a service.

It renders the same ``translate.py`` that ``generate`` writes, with the same
runtime, into a private temporary package and imports it, so the command and
the deployed shim can never disagree. Each line goes through the service's
steps for one record: the input is validated against the schema the service
checks it with (the internal record outbound, the inbound payload inbound),
translated, and outbound the result is validated against the external schema,
all with the runtime's ``service/schemacheck.py`` (the file every generated
package carries) over the ``openapi.json`` document. Only the runtime's core is
copied into the private package: the translator needs nothing else. A line
failing any step is reported on stderr (line number, JSON pointer, never a
value) and skipped; the exit code counts the failures.
Input is streamed line by line.
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
from shimgen.render.generate import make_meta, render_translate
from shimgen.render.openapi import openapi_document
from shimgen.render.runtime import runtime_files
from shimgen.runtime.service import schemacheck


class TranslateSetupError(Exception):
    """Keys missing, unknown group: nothing could be translated."""


@contextmanager
def loaded_translator(plan: ShimPlan, source: str | None = None) -> Iterator[ModuleType]:
    """Import the rendered translator for ``plan`` from a temporary package.

    ``source`` is ``translate.py`` when the caller rendered it already (``generate``
    does), so a large schema's translator is not rendered twice.
    """
    meta = make_meta(plan)
    tmp = Path(tempfile.mkdtemp(prefix="shimgen-"))
    name = f"_shimgen_{meta.package}_{meta.mapping_sha256[:12]}"
    pkg = tmp / name
    (pkg / "runtime" / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "translate.py").write_text(source or render_translate(plan, meta), encoding="utf-8")
    for file in runtime_files(["core"]):  # the translator needs the core only
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
        keys: Any = importlib.import_module(package + ".runtime.core.keys")
        try:
            keys.install(keys.Keyset.ephemeral("--dev-keys") if dev_keys else keys.load_keyset())
        except keys.KeysetError as exc:
            raise TranslateSetupError(str(exc)) from None
        fn = mod.to_internal if inbound else mod.to_external
        errors_mod: Any = importlib.import_module(package + ".runtime.core.errors")
        document = openapi_document(plan)
        check_in = schemacheck.SchemaValidator(
            document, "InboundPayload" if inbound else "InternalRecord"
        )
        check_out = None if inbound else schemacheck.SchemaValidator(document, "ExternalRecord")
        failures = 0
        stream = source.open("rb") if source else sys.stdin.buffer
        try:
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                answer = _one_line(line, fn, group, check_in, check_out, errors_mod)
                if isinstance(answer, bytes):
                    out.write(answer + b"\n")
                    continue
                failures += 1
                err.writelines(f"line {number}: {text}\n" for text in answer)
        finally:
            if source:
                stream.close()
            keys.reset()
    return failures


def _one_line(
    line: bytes, fn: Any, group: str | None, check_in: Any, check_out: Any, errors_mod: Any
) -> bytes | list[str]:
    """The translated line, or what is wrong with it (pointer and message, never a value).

    The order is the service's: input schema, translation, output schema; the
    first step that fails ends the line, as a 422 ends a request.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return [f"malformed JSON at column {exc.colno}"]
    problems = check_in.problems(record)
    if problems:
        return [f"{p.pointer}: {p.message}" for p in problems]
    try:
        result = fn(record, group)
    except errors_mod.TranslationError as exc:
        return [f"{p.pointer}: {p.message}" for p in exc.problems]
    except (TypeError, AttributeError):  # pragma: no cover - the input schema wants an object
        return ["expected a JSON object"]
    problems = check_out.problems(result) if check_out is not None else []
    if problems:
        return [f"output {p.pointer}: {p.message} (external schema)" for p in problems]
    return orjson.dumps(result)
