"""More specific wins: an entry inside another one governs its own subtree.

The enclosing entry (a *default*) governs every other field under it,
including fields the schema gains later: a default ``drop`` stays deny by
default, a default ``pass`` passes the rest. Checked through the checker,
the generated translator, the canary leak test, review, diff and lint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shimgen.check import CheckResult, check_mapping
from shimgen.diagnostics import Code
from shimgen.diff import diff_specs
from shimgen.diff.model import Kind
from shimgen.lint.engine import lint_mapping
from shimgen.lint.rulesets import builtin
from shimgen.render.generate import write_package
from shimgen.review.model import build_report
from tests.conftest import skip_or_fail
from tests.expected import ROOT, translator

SCHEMA = ROOT / "tests" / "fixtures" / "specific" / "person.schema.json"
HEAD = """\
shim: person
version: {version}
owner: test-team
internal: {{schema: {schema}, model: Person}}
external: {{schema: {schema}, model: {external}}}
groups:
  support: Customer support
"""
RECORD: dict[str, Any] = {
    "id": "p-1",
    "name": {"given": "Ada", "family": "Lovelace", "nickname": "Countess"},
    "contact": {"email": "ada@example.com", "phone": "+44 1", "channel": "mail"},
    "meta": {
        "created": "2024-03-17T10:22:05Z",
        "updated": "2024-04-01T08:00:00Z",
        "source": "crm",
        "tags": ["a", "b"],
        "audit": {"by": "ops", "note": "checked"},
    },
    "addresses": [{"city": "London", "street": "1 Main St", "zip": "N1"}],
}


def write(
    tmp: Path,
    fields: str,
    *,
    external: str = "Person",
    version: int = 1,
    name: str = "m.shim.yaml",
    schema: Path = SCHEMA,
) -> Path:
    path = tmp / name
    head = HEAD.format(version=version, schema=schema, external=external)
    path.write_text(head + "fields:\n" + fields, encoding="utf-8")
    return path


def clean(path: Path) -> CheckResult:
    result = check_mapping(path)
    assert result.findings == [], "\n".join(f.format() for f in result.findings)
    assert result.plan is not None
    return result


def codes(path: Path) -> list[tuple[Code, int, str]]:
    return [(f.code, f.line, f.message) for f in check_mapping(path).findings]


OTHERS = """\
  id: drop
  name: drop
  contact: drop
  addresses: drop
"""


# -- checker -------------------------------------------------------------------------


def test_a_drop_default_with_one_exception_checks_clean(tmp_path: Path) -> None:
    path = write(tmp_path, OTHERS + "  meta: drop\n  meta.updated: pass\n")
    plan = clean(path).plan
    assert plan is not None
    by = {r.label: r for r in plan.rules}
    assert by["meta.updated"].treat.name == "pass" and by["meta.updated"].parent is None
    # the default is replaced by one rule per other field, each still dropped
    for field in ("meta.created", "meta.source", "meta.tags", "meta.audit"):
        assert by[field].parent == "meta" and by[field].treat.name == "drop"
    assert "meta" not in by
    (default,) = [e for e in plan.entries if e.key == "meta"]
    assert default.exceptions == ("meta.updated",)
    assert {r.label for r in default.remainder} == {
        "meta.created",
        "meta.source",
        "meta.tags",
        "meta.audit",
    }


def test_the_old_overlap_is_no_longer_an_error(tmp_path: Path) -> None:
    """Was SG116 (`meta.updated` is inside `meta`, which is mapped already)."""
    path = write(tmp_path, OTHERS + "  meta: drop\n  meta.updated: pass\n")
    assert not any(code is Code.OVERLAP for code, _, _ in codes(path))


def test_nested_exceptions_each_govern_their_own_subtree(tmp_path: Path) -> None:
    fields = OTHERS + "  meta: drop\n  meta.audit: pass\n  meta.audit.note: drop\n"
    plan = clean(write(tmp_path, fields)).plan
    assert plan is not None
    treat = {r.label: r.treat.name for r in plan.rules}
    assert treat["meta.audit.by"] == "pass" and treat["meta.audit.note"] == "drop"
    assert treat["meta.created"] == "drop"
    assert [e.key for e in plan.entries if e.is_default] == ["meta", "meta.audit"]


def test_a_field_is_never_generated_twice(tmp_path: Path) -> None:
    fields = OTHERS.replace("addresses: drop", "addresses: pass") + (
        "  addresses[].street: drop\n  meta: pass\n  meta.audit.note: drop\n"
    )
    plan = clean(write(tmp_path, fields)).plan
    assert plan is not None
    paths = [r.internal for r in plan.rules]
    assert len(paths) == len(set(paths))
    # every field is governed by exactly one rule: no rule sits above another
    for p in paths:
        assert not any(q != p and p[: len(q)] == q for q in paths), p


def test_a_child_without_to_follows_its_parents_to(tmp_path: Path) -> None:
    fields = (
        "  id: {to: ref}\n  name: drop\n  contact: drop\n  addresses: drop\n"
        "  meta: {to: info}\n  meta.created: drop\n  meta.updated: {treat: pass}\n"
    )
    plan = clean(write(tmp_path, fields, external="Partner")).plan
    assert plan is not None
    ext = {r.label: r.external for r in plan.rules}
    assert ext["meta.updated"] == ("info", "updated")
    assert ext["meta.source"] == ("info", "source")  # the default's remainder, under its to:


def test_remainder_sent_where_the_external_schema_has_no_field(tmp_path: Path) -> None:
    fields = "  id: {to: ref}\n  meta: drop\n  contact: drop\n  addresses: drop\n"
    fields += "  name: {to: names}\n  name.given: pass\n"  # given: same path, names.given: no
    path = write(tmp_path, fields, external="Partner")
    found = codes(path)
    assert [(c, line) for c, line, _ in found] == [(Code.UNKNOWN_EXTERNAL, 13)], found
    assert "`name` sends `name.nickname` on to external `names.nickname`" in found[0][2]


def test_a_pii_field_passed_by_a_default_needs_why_at_the_default(tmp_path: Path) -> None:
    fields = "  id: drop\n  name: drop\n  meta: drop\n  addresses: drop\n"
    fields += "  contact: pass\n  contact.email: {treat: mask_email}\n"
    path = write(tmp_path, fields)
    found = [(c, line, m) for c, line, m in codes(path) if c is Code.MISSING_WHY]
    assert len(found) == 1
    _, line, message = found[0]
    assert line == 13 and "`contact.phone`" in message  # the default's line, the field's name
    fixed = fields.replace("contact: pass", "contact: {treat: pass, why: support calls back}")
    clean(write(tmp_path, fixed))


def test_a_default_is_checked_field_by_field_not_whole(tmp_path: Path) -> None:
    """`name: year` is wrong for each string field under it; an exception may fix one."""
    fields = "  id: drop\n  contact: drop\n  meta: drop\n  addresses: drop\n"
    fields += "  name: year\n  name.given: drop\n"
    found = codes(write(tmp_path, fields))
    assert {c for c, _, _ in found} == {Code.NOT_APPLICABLE}
    assert len(found) == 2  # family, nickname: the exception is not checked with the default


def test_compact_init_of_the_same_mapping_and_the_listing_agree(tmp_path: Path) -> None:
    """A drop default over a subtree is the same boundary as listing every field dropped."""
    listed = "  id: drop\n  name.given: drop\n  name.family: drop\n  name.nickname: drop\n"
    listed += "  contact: drop\n  meta: drop\n  addresses[].city: drop\n"
    listed += "  addresses[].street: drop\n  addresses[].zip: drop\n"
    short = "  id: drop\n  name: drop\n  contact: drop\n  meta: drop\n  addresses: drop\n"
    a = clean(write(tmp_path, listed, name="a.shim.yaml")).plan
    b = clean(write(tmp_path, short, name="b.shim.yaml")).plan
    assert a is not None and b is not None
    assert all(not r.treat.emits for r in [*a.rules, *b.rules])


# -- generated code --------------------------------------------------------------------


def test_translation_drop_default_opens_only_the_exception(tmp_path: Path) -> None:
    fields = OTHERS.replace("addresses: drop", "addresses: drop\n  addresses[].city: pass")
    fields += "  meta: drop\n  meta.updated: pass\n  meta.audit.by: pass\n"
    plan = clean(write(tmp_path, fields)).plan
    assert plan is not None
    with translator(plan) as mod:
        out = mod.to_external(json.loads(json.dumps(RECORD)))
    assert out == {
        "meta": {"updated": "2024-04-01T08:00:00Z", "audit": {"by": "ops"}},
        "addresses": [{"city": "London"}],
    }


def test_translation_pass_default_passes_the_rest(tmp_path: Path) -> None:
    fields = "  id: drop\n  contact: drop\n"
    fields += "  name: pass\n  name.nickname: drop\n"
    fields += "  meta: pass\n  meta.audit.note: drop\n  meta.source: {treat: redact}\n"
    fields += "  addresses: pass\n  addresses[].street: {treat: {mask: {keep_last: 2}}, why: x}\n"
    plan = clean(write(tmp_path, fields)).plan
    assert plan is not None
    record = json.loads(json.dumps(RECORD))
    record["meta"]["unknown"] = "never"  # not in the schema: never copied
    with translator(plan) as mod:
        out = mod.to_external(record)
    assert out == {
        "name": {"given": "Ada", "family": "Lovelace"},
        "meta": {
            "created": "2024-03-17T10:22:05Z",
            "updated": "2024-04-01T08:00:00Z",
            "source": "[redacted]",
            "tags": ["a", "b"],
            "audit": {"by": "ops"},
        },
        "addresses": [{"city": "London", "street": "*******St", "zip": "N1"}],
    }


def _grown(tmp: Path) -> Path:
    """The schema after a release that added `meta.region` and `name.title`."""
    data = json.loads(SCHEMA.read_text(encoding="utf-8"))
    data["$defs"]["Person"]["properties"]["meta"]["properties"]["region"] = {"type": "string"}
    data["$defs"]["Person"]["properties"]["name"]["properties"]["title"] = {"type": "string"}
    path = tmp / "grown.schema.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_fields_added_later_follow_the_default(tmp_path: Path) -> None:
    fields = "  id: drop\n  contact: drop\n  addresses: drop\n"
    fields += "  meta: drop\n  meta.updated: pass\n  name: pass\n  name.nickname: drop\n"
    plan = clean(write(tmp_path, fields, schema=_grown(tmp_path))).plan
    assert plan is not None
    record = json.loads(json.dumps(RECORD))
    record["meta"]["region"] = "eu-west"
    record["name"]["title"] = "Countess"
    with translator(plan) as mod:
        out = mod.to_external(record)
    assert "region" not in out["meta"], "a drop default stays deny by default"
    assert out["name"]["title"] == "Countess", "a pass default passes what it governs"


def test_generated_canary_leak_test_passes(tmp_path: Path) -> None:
    fields = "  id: drop\n  contact: drop\n"
    fields += "  name: pass\n  name.nickname: drop\n"
    fields += "  meta: drop\n  meta.updated: pass\n  meta.audit: pass\n  meta.audit.note: drop\n"
    fields += "  addresses: drop\n  addresses[].city: pass\n"
    plan = clean(write(tmp_path, fields)).plan
    assert plan is not None
    out = tmp_path / "pkg"
    write_package(plan, out)
    text = (out / "person_shim" / "translate.py").read_text(encoding="utf-8")
    assert text.count("'nickname'") == 0 and text.count("'note'") == 0  # dropped: never read
    env = {k: v for k, v in os.environ.items() if k not in ("SHIM_KEYS", "SHIM_KEYS_FILE")}
    env["PYTHONPATH"] = str(out)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = (
        "import sys; sys.modules['shimgen'] = None\n"
        "import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        "'tests/test_translate.py']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=out, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "canary" in (out / "tests" / "test_translate.py").read_text(encoding="utf-8")


# -- review, diff, lint ----------------------------------------------------------------


def test_review_shows_the_default_and_each_exception(tmp_path: Path) -> None:
    fields = OTHERS + "  meta: drop\n  meta.updated: pass\n  meta.audit.by: pass\n"
    report = build_report(clean(write(tmp_path, fields)))
    rows = {f.internal: f for f in report.fields}
    assert set(rows) == {
        "id",
        "name",
        "contact",
        "addresses",
        "meta",
        "meta.updated",
        "meta.audit.by",
    }
    assert rows["meta"].default == "drop"
    assert "default for the 4 other fields under it now, and any the schema adds later" in (
        rows["meta"].scope
    )
    assert "exceptions: meta.updated, meta.audit.by" in rows["meta"].scope
    assert rows["meta.updated"].scope == "exception to the default of meta"
    assert rows["id"].scope == ""


def test_diff_shows_the_default_once_and_the_exception(tmp_path: Path) -> None:
    old = write(tmp_path, OTHERS + "  meta: drop\n", name="old.shim.yaml")
    new_fields = OTHERS + "  meta: pass\n  meta.audit: drop\n  meta.updated: drop\n"
    new = write(tmp_path, new_fields, name="new.shim.yaml", version=2)
    result = diff_specs(str(old), str(new))
    loosened = result.loosened
    (default,) = [c for c in loosened if c.subject == "fields.meta"]
    assert "the default of `meta` for 3 fields" in default.reason
    assert (default.old, default.new) == ("drop", "pass")
    assert not any(c.subject.startswith("fields.meta.") for c in loosened)
    # the exceptions kept what they had: no change reported for them
    assert not [
        c for c in result.changes if c.subject in ("fields.meta.audit", "fields.meta.updated")
    ]


def test_diff_opening_one_field_under_a_drop_default(tmp_path: Path) -> None:
    old = write(tmp_path, OTHERS + "  meta: drop\n", name="old.shim.yaml")
    new = write(tmp_path, OTHERS + "  meta: drop\n  meta.updated: pass\n", name="new.shim.yaml")
    result = diff_specs(str(old), str(new))
    assert [(c.kind, c.subject) for c in result.changes] == [(Kind.LOOSENED, "fields.meta.updated")]
    assert "was covered by `meta`" in result.changes[0].reason


def lint_ids(path: Path) -> list[tuple[str, str]]:
    result = lint_mapping(path, builtin("authoritative"))
    assert result.linted, [f.format() for f in result.check.findings]
    return [(f.rule, f.message) for f in result.findings]


def test_lint_no_pass_on_pii_subtree_applies_to_a_default_pass(tmp_path: Path) -> None:
    fields = "  id: drop\n  name: drop\n  meta: drop\n  addresses: drop\n"
    fields += "  contact: {treat: pass, why: support calls back}\n  contact.email: mask_email\n"
    hits = [m for r, m in lint_ids(write(tmp_path, fields)) if r == "no-pass-on-pii-subtree"]
    assert len(hits) == 1 and "`contact.phone`" in hits[0] and "but `contact.email`" in hits[0]


def test_lint_default_pass_whose_pii_is_all_excepted_is_fine(tmp_path: Path) -> None:
    fields = "  id: drop\n  name: drop\n  meta: drop\n  addresses: drop\n"
    fields += "  contact: pass\n  contact.email: mask_email\n  contact.phone: drop\n"
    rules = [r for r, _ in lint_ids(write(tmp_path, fields))]
    assert "no-pass-on-pii-subtree" not in rules


# -- FHIR R4 Patient ---------------------------------------------------------------------

FHIR_PATIENT = ROOT.parent / "shared" / "real-schemas" / "fhir-r4-patient.schema.json"


def _fhir() -> None:
    """Skip without the real schemas on a developer machine; fail in CI, which must have them."""
    if not FHIR_PATIENT.is_file():
        skip_or_fail(f"real schemas not available at {FHIR_PATIENT}")


OPENED = {  # 16 fields opened under otherwise dropped subtrees
    "meta": ["meta.versionId: pass", "meta.lastUpdated: pass"],
    "name": ["name[].use: pass", "name[].family: pass", "name[].given: pass"],
    "telecom": ["telecom[].system: pass", "telecom[].use: pass"],
    "address": [
        "address[].city: pass",
        "address[].country: pass",
        "address[].postalCode: {treat: {prefix: 3}}",
    ],
}
TOP_OPEN = {
    "resourceType": "pass",
    "id": "{treat: tokenize}",
    "active": "pass",
    "gender": "pass",
    "birthDate": "pass",
    "managingOrganization": "drop\n  managingOrganization.display: pass",
}


def _fhir_mapping(tmp: Path) -> Path:
    from shimgen.initmap import initial_mapping

    spec = f"{FHIR_PATIENT}#Patient"
    text = initial_mapping("patient", spec, spec, tmp, compact=True)
    out = []
    for line in text.splitlines():
        key = line.strip().split(":", 1)[0]
        if line.startswith("  ") and not line.startswith("  #") and key in TOP_OPEN:
            out.append(f"  {key}: {TOP_OPEN[key]}")
        else:
            out.append(line)
            out.extend(f"  {entry}" for entry in OPENED.get(key, []) if line.startswith("  "))
    path = tmp / "patient.shim.yaml"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def test_fhir_patient_opens_16_fields_in_a_short_mapping(tmp_path: Path) -> None:
    _fhir()
    path = _fhir_mapping(tmp_path)
    fields = path.read_text(encoding="utf-8").split("\nfields:", 1)[1]
    entries = [ln for ln in fields.splitlines() if ln.startswith("  ") and not ln.startswith("  #")]
    opened = [ln for ln in entries if not ln.split(":", 1)[1].strip().startswith("drop")]
    assert len(opened) == 16
    assert len(entries) < 60, "was 90 lines with every sibling spelled out"
    result = clean(path)
    assert result.plan is not None
    record = {
        "resourceType": "Patient",
        "id": "example",
        "meta": {"versionId": "3", "lastUpdated": "2024-03-17T10:22:05Z", "source": "#x"},
        "active": True,
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"], "text": "P"}
        ],
        "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://x", "valueDateTime": "1974-12-25T14:35"}]},
        "address": [{"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille"}],
        "contact": [{"name": {"family": "du Marché"}}],
        "managingOrganization": {"reference": "Organization/1", "display": "ACME"},
    }
    record["address"][0].update({"country": "AU", "postalCode": "3999"})
    with translator(result.plan) as mod:
        out = mod.to_external(record)
    token = out.pop("id")
    assert isinstance(token, str) and token != "example"
    assert out == {
        "resourceType": "Patient",
        "meta": {"versionId": "3", "lastUpdated": "2024-03-17T10:22:05Z"},
        "active": True,
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
        "telecom": [{"system": "phone", "use": "work"}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "address": [{"city": "PleasantVille", "country": "AU", "postalCode": "399"}],
        "managingOrganization": {"display": "ACME"},
    }


def test_fhir_compact_init_checks_like_the_full_listing(tmp_path: Path) -> None:
    _fhir()
    from shimgen.initmap import initial_mapping

    spec = f"{FHIR_PATIENT}#Patient"
    found = {}
    for compact in (False, True):
        path = tmp_path / f"p{compact}.shim.yaml"
        path.write_text(initial_mapping("patient", spec, spec, tmp_path, compact=compact))
        found[compact] = [(f.code, f.message) for f in check_mapping(path).findings]
        if compact:
            assert len(path.read_text().splitlines()) < 60
    assert found[True] == found[False]
    assert {code for code, _ in found[True]} == {Code.REQUIRED_UNSOURCED}


# -- property: the most specific entry decides, for every field ------------------------

PATHS = [
    "id",
    "name",
    "name.given",
    "name.family",
    "name.nickname",
    "contact",
    "contact.email",
    "contact.phone",
    "contact.channel",
    "meta",
    "meta.created",
    "meta.updated",
    "meta.source",
    "meta.tags",
    "meta.audit",
    "meta.audit.by",
    "meta.audit.note",
    "addresses",
    "addresses[].city",
    "addresses[].street",
    "addresses[].zip",
]
TOP = [p for p in PATHS if "." not in p]


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [leaf for item in value for leaf in _leaves(item, (*path, "[]"))]
    return [(path, value)]


def _expected(entries: dict[str, str], record: dict[str, Any]) -> dict[str, Any]:
    """What deny by default with "more specific wins" must give: built leaf by leaf."""
    keys = {tuple(k.replace("[]", ".[]").split(".")): t for k, t in entries.items()}
    out: dict[str, Any] = {}
    for path, value in _leaves(record):
        governing = max((k for k in keys if path[: len(k)] == k), key=len)
        if keys[governing] != "pass":
            continue
        node: Any = out
        for i, seg in enumerate(path[:-1]):
            if seg == "[]":
                continue
            nxt = path[i + 1]
            node = node.setdefault(seg, [{}] if nxt == "[]" else {})
            if isinstance(node, list):
                node = node[0]
        node[path[-1]] = value
    return out


@st.composite
def mappings(draw: st.DrawFn) -> dict[str, str]:
    chosen = set(TOP) | set(draw(st.sets(st.sampled_from(PATHS))))
    return {p: draw(st.sampled_from(["pass", "drop"])) for p in PATHS if p in chosen}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=mappings())
def test_the_most_specific_entry_decides_every_field(
    tmp_path: Path, entries: dict[str, str]
) -> None:
    fields = "".join(
        f"  {k}: {{treat: {t}, why: property test}}\n" if t == "pass" else f"  {k}: drop\n"
        for k, t in entries.items()
    )
    plan = clean(write(tmp_path, fields)).plan
    assert plan is not None
    with translator(plan) as mod:
        out = mod.to_external(json.loads(json.dumps(RECORD)))
    assert out == _expected(entries, RECORD)


def test_compact_init_quotes_names_and_checks_like_the_listing(tmp_path: Path) -> None:
    """`init --compact` writes keys in the path syntax, quoted for YAML, as the full listing does."""
    from shimgen.initmap import initial_mapping

    schema = {
        "type": "object",
        "required": ["on"],
        "properties": {
            "on": {"type": "object", "properties": {"push": {"type": "string"}}},
            "a.b": {"type": "string"},
            "yes": {"type": "array", "items": {"type": "object", "properties": {"x": {}}}},
        },
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    found = {}
    for compact in (False, True):
        text = initial_mapping("odd", str(path), str(path), tmp_path, compact=compact, suggest=True)
        mapping = tmp_path / f"m{compact}.shim.yaml"
        mapping.write_text(text, encoding="utf-8")
        found[compact] = [(f.code, f.message) for f in check_mapping(mapping).findings]
    assert "\n  'on': drop  # object, 1 field inside" in text  # quoted: YAML 1.1 reads a boolean
    assert (
        found[True]
        == found[False]
        == [
            (
                Code.REQUIRED_UNSOURCED,
                "required external field `on` has no source for the default view",
            )
        ]
    )
