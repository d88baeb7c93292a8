"""The whole chain on every real schema model: init, open every field, check, generate, translate.

The models come from the list at the end of ../shared/real-schemas/README.md
(`file#model -> file#model`, the external side defaulting to the internal
one, `#model` optional), so a model added there is a new case here without a
code change. For each: ``shimgen init`` writes the all-``drop`` mapping, the
test opens every field (``pass`` onto the same path of the external model),
``check`` must be clean, ``generate`` writes the package, which is imported;
a record synthesized from the internal schema (``tests.record_synth``) is
validated with the package's own pydantic models and translated, and the
output must equal the input restricted to the opened fields and satisfy the
external schema as the generated service checks it (its ``openapi.json``
``ExternalRecord``, with its own validator): a shim must never send what its
own external schema refuses (Box's ``shared_link`` requires an ``accessed``
it never declares; the loader once dropped it, check passed, and the service
answered 422 to every record with a shared link).

A field stays ``drop`` only where the design says it cannot be passed:
the external model has no such path, or its value is untyped (SG106); a
required untyped field is ``redact``ed. Recursive fields are passed (their
copy is a function that calls itself), and a free-form object (no declared
field) is copied as ``{}``, which is why the synthesized record leaves them
empty. Every
other refusal is a failure of the case, or an ``xfail(strict=True)`` naming
the engineer's item that removes it, so the marker fails loudly once fixed.

``make sweep`` (``scripts/sweep_real_schemas.py``) runs the same steps on every
component of every real schema, not only the listed models: about 10 minutes,
so not part of ``make test``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from shimgen.diagnostics import Severity
from shimgen.schema.loader import load_schema
from shimgen.schema.model import (
    ARRAY,
    Kind,
    Leaf,
    LoadedSchema,
    Path_,
    PathError,
    SchemaNode,
    iter_leaves,
    lookup,
)
from shimgen.treatments.fit import untyped_field
from tests.conftest import skip_or_fail
from tests.record_synth import Synthesizer

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real-schemas"
README = REAL / "README.md"

GENERATE_SECONDS = 180
"""Per-case budget for ``shimgen generate`` (run in a subprocess so it can be stopped)."""
SCALE_SECONDS = 30
"""The budget of a case blocked on generation speed: the issue's target (FHIR Patient, every
field opened, in at most 30 s), so the xfail turns into a loud XPASS once it is met."""
GENERATE_BYTES = 3 * 1024**3
"""Address-space cap for the same subprocess: a runaway generation fails instead of swapping."""

BLOCKED: dict[str, str] = {}

UNSYNTHESIZABLE = {
    # SchemaStore's `oneOf`s whose branches overlap (a step with `uses` and `run`
    # matches both): tests.record_synth fills every field, so its record matches
    # more than one branch and is not valid JSON Schema. The service refuses such a
    # record on the way in; the comparison with `restrict` above still runs.
    "schemastore-github-workflow.schema.json",
    "schemastore-github-workflow.schema.json#normalJob",
}
"""README line -> the engineer's item blocking it today (becomes an xfail(strict=True))."""


@dataclass(frozen=True)
class Side:
    file: str
    model: str | None

    @property
    def spec(self) -> str:
        return f"{REAL / self.file}#{self.model}" if self.model else str(REAL / self.file)


@dataclass(frozen=True)
class Case:
    line: str
    internal: Side
    external: Side

    @property
    def shim(self) -> str:
        """A valid shim name, unique per README line (and a distinct package to import)."""
        model = re.sub(r"[^a-z0-9]+", "-", (self.internal.model or "root").lower()).strip("-")
        digest = hashlib.sha256(self.line.encode()).hexdigest()[:8]
        return f"chain-{model[-30:].strip('-')}-{digest}"


def _side(text: str) -> Side:
    file, _, model = text.strip().partition("#")
    return Side(file.strip(), model.strip() or None)


def read_cases(readme: Path) -> list[Case]:
    """The README's last ```text block, one `file#model -> file#model` per line."""
    blocks = re.findall(r"```text\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert blocks, f"{readme} has no ```text block listing models"
    cases: list[Case] = []
    for raw in blocks[-1].splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        left, _, right = line.partition("->")
        internal = _side(left)
        cases.append(Case(line, internal, _side(right) if right.strip() else internal))
    return cases


def _params() -> list[Any]:
    if not README.is_file():
        return [pytest.param(None, id="real-schemas-missing")]
    out = []
    for case in read_cases(README):
        marks = []
        if case.line in BLOCKED:
            marks.append(pytest.mark.xfail(strict=True, reason=BLOCKED[case.line]))
        out.append(pytest.param(case, id=case.line, marks=marks))
    return out


_schemas: dict[Side, LoadedSchema] = {}


def loaded(side: Side) -> LoadedSchema:
    if side not in _schemas:
        _schemas[side] = load_schema(REAL / side.file, side.model)
    return _schemas[side]


# -- opening the fields ----------------------------------------------------------------


def untyped(node: SchemaNode) -> bool:
    """Would a whole-field copy carry an untyped value somewhere (SG106 by design)?"""
    seen: set[int] = set()
    todo = [node]
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind is Kind.ANY:
            return True
        if n.free_form:  # a free-form object is copied as {}: nothing inside crosses
            continue
        todo.extend(c for k, c in n.properties.items() if not untyped_field(n, k))
        todo.extend(x for x in (n.items, n.values) if x is not None)
        todo.extend(n.variants)
    return False


REDACTION = "[redacted]"


def treatment(leaf: Leaf, external: SchemaNode) -> str:
    """`pass` where the design allows it (recursive fields too: their copy calls
    itself); `redact` for an untyped field the external side requires (FHIR's
    `text.div` is xhtml with no type); `drop` otherwise."""
    try:
        lookup(external, leaf.path)
    except PathError:
        return "drop"
    if untyped(leaf.node):
        names = [seg for seg in leaf.path if seg != ARRAY]
        parent = (
            lookup(external, leaf.path[: len(leaf.path) - 1]) if len(leaf.path) > 1 else external
        )
        parent = parent.items if parent.kind is Kind.ARRAY and parent.items else parent
        return "redact" if names[-1] in parent.required else "drop"
    return "pass"


def open_fields(
    text: str, leaves: list[Leaf], external: SchemaNode
) -> tuple[str, dict[Path_, str]]:
    """Turn init's `KEY: drop  # type` lines (one per leaf, in order) into the leaf's treatment."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("fields:")) + 1
    field_lines = [i for i in range(start, len(lines)) if lines[i].startswith("  ")]
    assert len(field_lines) == len(leaves), "init lists one line per field"
    opened: dict[Path_, str] = {}
    for i, leaf in zip(field_lines, leaves, strict=True):
        treat = treatment(leaf, external)
        if treat != "drop":
            key, sep, rest = lines[i].partition(": drop")
            assert sep, lines[i]
            lines[i] = f"{key}: {treat}{rest}"
            opened[leaf.path] = treat
    return "".join(lines), opened


# -- the expected output ---------------------------------------------------------------


def restrict(record: Any, opened: dict[Path_, str]) -> Any:
    """``record`` with only the opened values (``[]`` steps into every array item);
    a redacted value is the redaction text."""
    out: dict[str, Any] = {}
    for path, treat in opened.items():
        _copy(record, out, path, treat)
    return out


def _copy(src: Any, dst: dict[str, Any], path: Path_, treat: str) -> None:
    name, rest = path[0], path[1:]
    if not isinstance(src, dict) or name not in src or src[name] is None:
        return
    value = src[name]
    if not rest:
        dst[name] = REDACTION if treat == "redact" else value
    elif rest[0] == ARRAY:
        if not isinstance(value, list):
            return
        items = dst.setdefault(name, [{} for _ in value])
        for item_in, item_out in zip(value, items, strict=True):
            _copy(item_in, item_out, rest[1:], treat)
    else:
        _copy(value, dst.setdefault(name, {}), rest, treat)


# -- generate and import ---------------------------------------------------------------


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (GENERATE_BYTES, GENERATE_BYTES))


_GENERATE = (sys.executable, "-c", "from shimgen.cli import app; app()", "generate")


def generate(mapping: Path, out: Path, seconds: int) -> None:
    try:
        done = subprocess.run(
            [*_GENERATE, str(mapping), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=seconds,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"generate took more than {seconds} s")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]


def import_package(root: Path, package: str) -> Any:
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(f"{package}.translate"), importlib.import_module(
            f"{package}.internal_models"
        )
    finally:
        sys.path.remove(str(root))


def model_class(models: Any, model: str | None, title: str | None) -> Any:
    """The pydantic class datamodel-code-generator made for the mapping's model."""
    wanted = re.sub(r"[^a-z0-9]", "", (model or title or "model").lower())
    for name, value in vars(models).items():
        if re.sub(r"[^a-z0-9]", "", name.lower()) == wanted and hasattr(value, "model_validate"):
            return value
    raise AssertionError(f"no model class for {model or title} in {models.__name__}")


# -- the test --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS", '{"primary": "k1", "keys": {"k1": "' + "A" * 86 + '=="}}')


@pytest.mark.parametrize("case", _params())
def test_chain(case: Case | None, tmp_path: Path) -> None:
    if case is None:
        skip_or_fail(f"real schemas missing at {REAL}")
    mapping = tmp_path / f"{case.shim}.shim.yaml"
    sides = ["--internal", case.internal.spec, "--external", case.external.spec]
    result = CliRunner().invoke(app, ["init", case.shim, *sides, "-o", str(mapping)])
    assert result.exit_code == 0, result.output

    internal, external = loaded(case.internal), loaded(case.external)
    leaves = list(iter_leaves(internal.root))
    text, opened = open_fields(mapping.read_text(encoding="utf-8"), leaves, external.root)
    assert opened, "the chain opens at least one field"
    mapping.write_text(text, encoding="utf-8")

    checked = check_mapping(mapping)
    errors = [f.format() for f in checked.findings if f.severity is Severity.ERROR]
    assert errors == [], "\n".join(errors[:20])

    out = tmp_path / "out"
    slow = BLOCKED.get(case.line, "").startswith("scale")
    generate(mapping, out, SCALE_SECONDS if slow else GENERATE_SECONDS)
    package = case.shim.replace("-", "_") + "_shim"
    translate, models = import_package(out, package)

    record = Synthesizer().record(internal.root)
    cls = model_class(models, case.internal.model, internal.root.name)
    cls.model_validate(record)  # the synthesized record is valid for the schema
    translated = translate.to_external(record)
    assert translated == restrict(record, opened)
    internal, external = (validator(out, package, n) for n in ("InternalRecord", "ExternalRecord"))
    if case.line in UNSYNTHESIZABLE:  # the service would refuse the record on the way in
        assert internal.problems(record), "the synthesizer now makes a valid record: drop the entry"
        return
    assert internal.problems(record) == []
    assert external.problems(translated) == []


def validator(root: Path, package: str, name: str) -> Any:
    """The generated service's own check of a record (``InternalRecord``, ``ExternalRecord``)."""
    sys.path.insert(0, str(root))
    try:
        schemacheck = importlib.import_module(f"{package}.runtime.service.schemacheck")
    finally:
        sys.path.remove(str(root))
    openapi = json.loads((root / package / "openapi.json").read_text(encoding="utf-8"))
    return schemacheck.SchemaValidator(openapi, name)
