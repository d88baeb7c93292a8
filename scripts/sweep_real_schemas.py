"""Every component of every real schema through the whole chain, not only the listed models.

Run from the repo root: ``python scripts/sweep_real_schemas.py [--every N] [--no-generate]``
(``make sweep``). tests/test_real_chain.py runs the models listed in
../shared/real-schemas/README.md on every ``make test``; this runs all of them
(809 components today, about 10 minutes), with the same steps and the same oracle:
``init``, open every field (``tests.test_real_chain.open_fields``), ``check``,
``generate``, import, translate a synthesized record, compare with the record
restricted to the opened fields, and check the translation with the generated
service's own ``ExternalRecord`` validator.

Each component ends in one outcome; only the ones worth reading are printed, then a
count per outcome. Outcomes: ``ok``; ``init-refused`` (a model without fields: init
says why); ``findings`` (check's errors, printed); ``synth-invalid`` (the synthesized
record is not valid for the internal schema, so the external check is not judged);
``MISMATCH``, ``EXTERNAL-INVALID`` and ``CRASH``, which are defects. The exit code is 1
when any defect was found.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import yaml  # noqa: E402

from shimgen.check import check_mapping  # noqa: E402
from shimgen.diagnostics import Severity  # noqa: E402
from shimgen.initmap import InitError, initial_mapping  # noqa: E402
from shimgen.schema.model import iter_leaves  # noqa: E402
from tests.record_synth import Synthesizer  # noqa: E402
from tests.test_real_chain import (  # noqa: E402
    REAL,
    Side,
    generate,
    import_package,
    loaded,
    open_fields,
    restrict,
    validator,
)

DEFECTS = ("MISMATCH", "EXTERNAL-INVALID", "CRASH")
PACKAGE = "sweep_shim"


def components(path: Path) -> list[str]:
    """The names a mapping can give as ``model:`` (components, $defs, definitions)."""
    raw = path.read_bytes()
    data = orjson.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    for table in (
        data.get("components", {}).get("schemas"),
        data.get("$defs"),
        data.get("definitions"),
    ):
        if isinstance(table, dict) and table:
            return list(table)
    return []


def one(schema: Path, name: str, work: Path, build: bool) -> tuple[str, str]:
    """(outcome, detail) of one component."""
    spec = f"{schema}#{name}"
    try:
        text = initial_mapping("sweep", spec, spec, work)
    except InitError as exc:
        return "init-refused", str(exc)
    internal = loaded(Side(schema.name, name))
    text, opened = open_fields(text, list(iter_leaves(internal.root)), internal.root)
    mapping = work / "sweep.shim.yaml"
    mapping.write_text(text, encoding="utf-8")
    errors = [f for f in check_mapping(mapping).findings if f.severity is Severity.ERROR]
    if errors:
        return "findings", errors[0].format().splitlines()[0]
    if not build:
        return "ok", ""
    out = work / "out"
    generate(mapping, out, 180)
    for module in [m for m in sys.modules if m.startswith(PACKAGE)]:
        del sys.modules[module]  # each component is a new package of the same name
    translate, _ = import_package(out, PACKAGE)
    record = Synthesizer().record(internal.root)
    got = translate.to_external(record)
    if got != restrict(record, opened):
        return "MISMATCH", "the translation differs from the record restricted to the opened fields"
    if validator(out, PACKAGE, "InternalRecord").problems(record):
        return "synth-invalid", ""
    problems = validator(out, PACKAGE, "ExternalRecord").problems(got)
    if problems:
        return "EXTERNAL-INVALID", f"{problems[0].pointer}: {problems[0].message}"
    return "ok", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="take every Nth component")
    parser.add_argument("--no-generate", action="store_true", help="stop after check")
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"no real schemas at {REAL}", file=sys.stderr)
        return 2
    os.environ.setdefault("SHIM_DEV_KEYS", "1")
    counts: Counter[str] = Counter()
    start, n = time.perf_counter(), 0
    with tempfile.TemporaryDirectory() as tmp:
        for schema in sorted(p for p in REAL.iterdir() if p.suffix in (".json", ".yaml")):
            for name in components(schema):
                n += 1
                if (n - 1) % args.every:
                    continue
                work = Path(tmp) / "w"
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                try:
                    outcome, detail = one(schema, name, work, not args.no_generate)
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    outcome, detail = "CRASH", f"{type(exc).__name__}: {str(exc)[:300]}"
                counts[outcome] += 1
                if outcome != "ok":
                    print(f"{outcome:16s} {schema.name}#{name}  {detail}"[:400], flush=True)
    total = sum(counts.values())
    summary = ", ".join(f"{k} {v}" for k, v in counts.most_common())
    print(f"{total} components in {time.perf_counter() - start:.0f} s: {summary}")
    return 1 if any(counts[d] for d in DEFECTS) else 0


if __name__ == "__main__":
    sys.exit(main())
