"""What ``check`` accepts, the generated leak test passes, and that test can still fail.

Every treatment declares how many characters of its input it can reveal
(``TreatmentDef.reveals``). ``check`` refuses a treatment revealing more than
``REVEAL_LIMIT`` (SG115), and the generated leak test searches for runs of
``LEAK_WINDOW`` characters: both read the numbers in ``shimgen.treatments``.
A shim with every partial reveal at the limit is generated and its own leak
test runs green; the same shim revealing one character more is caught by that
test; and each parameter one past the limit is refused by ``check``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shimgen.check import check_mapping
from shimgen.diagnostics import Code
from shimgen.render.generate import write_package
from shimgen.treatments import LEAK_WINDOW, REGISTRY, REVEAL_LIMIT, Treatment, parse_treatment

MAX = REVEAL_LIMIT
HALF = MAX // 2

FIELDS: dict[str, tuple[dict[str, str], str]] = {
    # field: (internal schema, treatment as written, at the widest check accepts)
    "p_plain": ({"type": "string"}, f"{{prefix: {MAX}}}"),
    "p_date": ({"type": "string", "format": "date"}, f"{{prefix: {MAX}}}"),
    "p_email": ({"type": "string", "format": "email"}, f"{{prefix: {MAX}}}"),
    "m_last": ({"type": "string"}, f"{{mask: {{keep_last: {MAX}}}}}"),
    "m_first": ({"type": "string"}, f"{{mask: {{keep_first: {MAX}}}}}"),
    "m_both": ({"type": "string"}, f"{{mask: {{keep_first: {HALF}, keep_last: {MAX - HALF}}}}}"),
    "m_fixed": (
        {"type": "string"},
        f"{{mask: {{keep_first: {HALF}, keep_last: {MAX - HALF}, length: {MAX + 3}}}}}",
    ),
    "m_date": ({"type": "string", "format": "date"}, f"{{mask: {{keep_last: {MAX}}}}}"),
    "month_of": ({"type": "string", "format": "date"}, "month"),
    "last_digits": ({"type": "integer"}, "last4"),
}


def _write(tmp: Path, fields: dict[str, tuple[dict[str, str], str]]) -> Path:
    internal = {
        "type": "object",
        "properties": {name: schema for name, (schema, _) in fields.items()},
        "required": sorted(fields),
    }
    external = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in fields},
    }
    (tmp / "internal.json").write_text(json.dumps(internal), encoding="utf-8")
    (tmp / "external.json").write_text(json.dumps(external), encoding="utf-8")
    lines = [
        "shim: widest",
        "version: 1",
        "owner: tests",
        "internal: {schema: internal.json}",
        "external: {schema: external.json}",
        "fields:",
        *(f"  {name}: {{treat: {treat}}}" for name, (_, treat) in fields.items()),
    ]
    path = tmp / "widest.shim.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_leak_test(pkg: Path) -> subprocess.CompletedProcess[str]:
    """The generated package's own leak test, without shimgen importable (as it ships)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SHIM_KEYS", "SHIM_KEYS_FILE")}
    env["PYTHONPATH"] = str(pkg)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = (
        "import sys; sys.modules['shimgen'] = None\n"
        "import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        "'tests/test_translate.py', '-k', 'canary_leak']))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=pkg, env=env, capture_output=True, text=True
    )


def test_the_widest_fields_reach_the_limit_and_get_the_window() -> None:
    widest: dict[str, int] = {}
    for name, (_, treat) in FIELDS.items():
        t = parse_treatment(yaml.safe_load(treat))
        assert t.reveals is not None and t.reveals <= REVEAL_LIMIT, name
        assert t.leak_window == LEAK_WINDOW, name
        widest[t.name] = max(widest.get(t.name, 0), t.reveals)
    # each treatment whose parameters set what it shows is here at the limit
    assert widest["prefix"] == widest["mask"] == REVEAL_LIMIT
    # a treatment built by hand past the limit (check never yields one) is searched
    # with one more than it shows, never with a window it could fill
    assert Treatment("prefix", (("length", LEAK_WINDOW + 4),)).leak_window == LEAK_WINDOW + 5


def test_widest_accepted_shim_passes_its_leak_test_and_one_more_fails_it(tmp_path: Path) -> None:
    result = check_mapping(_write(tmp_path, FIELDS))
    assert result.findings == [], "\n".join(f.format() for f in result.findings)
    assert result.plan is not None
    pkg = tmp_path / "pkg"
    write_package(result.plan, pkg)
    canary = json.loads((pkg / "tests" / "canary.json").read_text(encoding="utf-8"))
    windows = {window for view in canary["views"] for _, window in view["forbidden"]}
    assert windows == {LEAK_WINDOW}, "the generated test reads the window shimgen declares"
    searched = {text for view in canary["views"] for text, _ in view["forbidden"]}
    assert min(len(t) for t in searched) >= LEAK_WINDOW, "every searched text can fail the test"

    proc = _run_leak_test(pkg)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout and "skipped" not in proc.stdout

    # the same package showing one character past the limit fails its own test
    translate = next(pkg.glob("*/translate.py"))
    source = translate.read_text(encoding="utf-8")
    widened = source.replace(f"_t.prefix(v, {MAX})", f"_t.prefix(v, {MAX + 1})")
    assert widened != source
    translate.write_text(widened, encoding="utf-8")
    proc = _run_leak_test(pkg)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "canary of a treated field leaked" in proc.stdout


ONE_PAST = {
    "p_plain": f"{{prefix: {MAX + 1}}}",
    "m_last": f"{{mask: {{keep_last: {MAX + 1}}}}}",
    "m_first": f"{{mask: {{keep_first: {MAX + 1}}}}}",
    "m_both": f"{{mask: {{keep_first: {HALF + 1}, keep_last: {MAX - HALF}}}}}",
    "m_fixed": f"{{mask: {{keep_first: {HALF}, keep_last: {MAX - HALF + 1}, length: {MAX + 3}}}}}",
}


@pytest.mark.parametrize("field", sorted(ONE_PAST))
def test_check_refuses_one_character_past_the_limit(tmp_path: Path, field: str) -> None:
    fields = dict(FIELDS)
    fields[field] = (fields[field][0], ONE_PAST[field])
    path = _write(tmp_path, fields)
    result = check_mapping(path)
    assert result.plan is None and result.exit_code == 1
    [finding] = result.findings
    line = 1 + next(i for i, ln in enumerate(path.read_text().splitlines()) if f" {field}:" in ln)
    col = 1 + path.read_text().splitlines()[line - 1].index(ONE_PAST[field])
    assert (finding.code, finding.line, finding.col) == (Code.BAD_TREATMENT, line, col)
    assert f"can show {MAX + 1} characters" in finding.message
    assert f"at most {MAX}" in finding.message
    assert finding.hint.startswith("show fewer, e.g. `")
    assert finding.format().startswith(f"{path}:{line}:{col}: error[SG115]: ")


def test_every_treatment_example_is_within_the_limit() -> None:
    """The refusal's hint points at the treatment's example: it must be one check accepts."""
    for d in REGISTRY.values():
        spec = yaml.safe_load(d.example) if d.example[:1] in ("{", '"') else d.example
        t = parse_treatment(spec)
        assert t.reveals is None or t.reveals <= REVEAL_LIMIT, d.example
