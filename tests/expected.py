"""Expected translations of the example samples (the end-to-end record).

``make expected`` rewrites mappings/expected/ with this module; the tests
compare against the committed files. Tokens are deterministic (AES-SIV) under
the committed *test-only* keyset tests/fixtures/test-keys.json.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from shimgen.check import check_mapping
from shimgen.check.plan import ShimPlan
from shimgen.schema.model import ARRAY, Kind
from shimgen.translate import loaded_translator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("customer", "orders", "hr")
KEYS = ROOT / "tests" / "fixtures" / "test-keys.json"
PLACEHOLDER = "TOKEN"


def plan_of(name: str) -> ShimPlan:
    result = check_mapping(ROOT / "mappings" / f"{name}.shim.yaml")
    assert result.plan is not None, [f.format() for f in result.findings]
    return result.plan


@contextmanager
def translator(plan: ShimPlan) -> Iterator[ModuleType]:
    with loaded_translator(plan) as mod:
        keys: Any = importlib.import_module(mod.__package__ + ".runtime.core.keys")
        keys.install(keys.Keyset.from_json(KEYS.read_text()))
        try:
            yield mod
        finally:
            keys.reset()


def fill_tokens(
    plan: ShimPlan, mod: ModuleType, doc: Any, line: int, path: tuple[str, ...] = ()
) -> Any:
    """Replace "TOKEN" placeholders in an inbound sample with real tokens of that field."""
    if isinstance(doc, dict):
        return {k: fill_tokens(plan, mod, v, line, (*path, k)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [fill_tokens(plan, mod, v, line, (*path, ARRAY)) for v in doc]
    if doc != PLACEHOLDER:
        return doc
    rule = next(r for r in plan.rules if r.external == path)
    value: str | int = line if rule.in_node.kind is Kind.INTEGER else f"{plan.name}-sample-{line}"
    keys: Any = importlib.import_module(mod.__package__ + ".runtime.core.keys")
    return keys.current().tokenize(value, plan.context(rule))


def outputs(name: str) -> dict[str, str]:
    """File name -> NDJSON text, for every view and both directions."""
    plan = plan_of(name)
    samples = ROOT / "mappings" / "samples"
    internal = [
        json.loads(x) for x in (samples / f"{name}.internal.ndjson").read_text().splitlines() if x
    ]
    external = [
        json.loads(x) for x in (samples / f"{name}.external.ndjson").read_text().splitlines() if x
    ]
    files: dict[str, str] = {}
    with translator(plan) as mod:
        for view in plan.views:
            label = view or "nogroup"
            out = [mod.to_external(r, view) for r in internal]
            files[f"{name}.{label}.outbound.ndjson"] = "".join(
                json.dumps(o, sort_keys=True) + "\n" for o in out
            )
            lines = []
            for i, payload in enumerate(external, 1):
                try:
                    lines.append(mod.to_internal(fill_tokens(plan, mod, payload, i), view))
                except ValueError as exc:  # a view that may not write some field
                    lines.append({"rejected": [p.pointer for p in exc.problems]})  # type: ignore[attr-defined]
            files[f"{name}.{label}.inbound.ndjson"] = "".join(
                json.dumps(o, sort_keys=True) + "\n" for o in lines
            )
    return files


def main() -> None:
    target = ROOT / "mappings" / "expected"
    target.mkdir(exist_ok=True)
    for name in EXAMPLES:
        for file, text in outputs(name).items():
            (target / file).write_text(text, encoding="utf-8")
            print(f"wrote mappings/expected/{file}")


if __name__ == "__main__":
    main()
