"""`shimgen translate` and `shimgen init`/`schema` through the CLI."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from shimgen.mapping.model import mapping_json_schema
from shimgen.render.openapi import openapi_document
from shimgen.runtime.service.schemacheck import SchemaValidator
from shimgen.translate import run
from tests.expected import KEYS, ROOT

CUSTOMER = ROOT / "mappings" / "customer.shim.yaml"
SAMPLES = ROOT / "mappings" / "samples" / "customer.internal.ndjson"


@pytest.fixture
def keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    monkeypatch.delenv("SHIM_DEV_KEYS", raising=False)


def _run(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_translate_matches_expected_outputs(keys_env: None) -> None:
    code, out, _ = _run(["translate", str(CUSTOMER), str(SAMPLES), "--group", "billing"])
    assert code == 0
    got = [json.loads(line) for line in out.splitlines()]
    expected_file = ROOT / "mappings" / "expected" / "customer.billing.outbound.ndjson"
    assert got == [json.loads(line) for line in expected_file.read_text().splitlines()]


def test_bad_lines_are_reported_and_good_lines_go_on(keys_env: None) -> None:
    good = SAMPLES.read_text().splitlines()[0]
    stdin = "\n".join([good, "{not json", '{"id": 5, "email": "a@b.c"}', "[1, 2]", good]) + "\n"
    code, out, err = _run(["translate", str(CUSTOMER), "--group", "support"], stdin)
    assert code == 1
    assert len(out.splitlines()) == 2
    assert "line 2: malformed JSON" in err
    assert "line 3: /id:" in err
    assert "line 4: expected a JSON object" in err or "line 4: /:" in err
    assert "a@b.c" not in err, "errors never echo values"


def test_inbound_rejects_fields_not_opened(keys_env: None) -> None:
    code, out, err = _run(
        ["translate", str(CUSTOMER), "--inbound", "--group", "support"],
        '{"status": "active", "firstName": "Mallory"}\n',
    )
    assert code == 1 and out == ""
    assert "line 1: /firstName: additionalProperties: this field may not be sent" in err
    assert "Mallory" not in err


def test_missing_keyset_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SHIM_KEYS", "SHIM_KEYS_FILE", "SHIM_DEV_KEYS"):
        monkeypatch.delenv(var, raising=False)
    code, _, err = _run(["translate", str(CUSTOMER)], "{}\n")
    assert code == 2
    assert "SHIM_KEYS" in err


def test_unknown_group_is_a_usage_error(keys_env: None) -> None:
    code, _, err = _run(["translate", str(CUSTOMER), "--group", "admin"], "{}\n")
    assert code == 2 and "unknown group `admin`" in err


def test_run_streams_line_by_line(keys_env: None) -> None:
    """The runner consumes an iterator lazily: output appears before input ends."""
    plan = check_mapping(CUSTOMER).plan
    assert plan is not None
    out, err = io.BytesIO(), io.StringIO()
    failures = run(plan, SAMPLES, group=None, inbound=False, dev_keys=False, out=out, err=err)
    assert failures == 0
    assert len(out.getvalue().splitlines()) == len(SAMPLES.read_text().splitlines())


def test_init_lists_every_field_and_checks_after_edits(tmp_path: Path) -> None:
    target = tmp_path / "new.shim.yaml"
    code, _, _ = _run(
        [
            "init",
            "customer",
            "--internal",
            f"{ROOT}/mappings/schemas/customer.internal.json#Customer",
            "--external",
            f"{ROOT}/mappings/schemas/customer.external.json#PartnerCustomer",
            "-o",
            str(target),
        ]
    )
    assert code == 0
    text = target.read_text()
    for path in ("id", "email", "name.given", "cards[].number", "cards[].cvv", "risk_score"):
        assert f"  {path}: drop" in text
    result = check_mapping(target)
    codes = {f.code for f in result.findings}
    assert "SG101" not in codes, "init covers every internal field"


def test_schema_command_matches_committed_editor_schema() -> None:
    code, out, _ = _run(["schema"])
    assert code == 0
    assert json.loads(out) == mapping_json_schema()
    committed = json.loads((ROOT / "docs" / "mapping.schema.json").read_text())
    assert committed == mapping_json_schema(), "run `shimgen schema > docs/mapping.schema.json`"


def test_generate_refuses_to_replace_an_unrelated_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    code, _, err = _run(["generate", str(CUSTOMER), "-o", str(tmp_path)])
    assert code == 2 and "refusing" in err
    assert (tmp_path / "precious.txt").exists()


def test_generate_refuses_a_symbolic_link_as_output(tmp_path: Path) -> None:
    """A symlinked output folder was an internal error (exit 3, rmtree refuses links): now one
    line and exit 2, and the folder it names is left alone (red-team, sixth pass)."""
    real, link = tmp_path / "real", tmp_path / "link"
    code, _, _ = _run(["generate", str(CUSTOMER), "-o", str(real)])
    assert code == 0
    before = sorted(p.relative_to(real) for p in real.rglob("*"))
    link.symlink_to(real, target_is_directory=True)
    code, _, err = _run(["generate", str(CUSTOMER), "-o", str(link)])
    assert code == 2 and "symbolic link" in err and "Traceback" not in err
    assert sorted(p.relative_to(real) for p in real.rglob("*")) == before


def test_input_is_validated_like_the_service_does(keys_env: None) -> None:
    """Required field missing, a pii field of the wrong type, an unknown field: line refused
    with the very problems the service's 422 lists; the next line still translates."""
    good = SAMPLES.read_text().splitlines()[0]
    bad = json.loads(good)
    del bad["id"]
    bad["email"] = 5
    bad["nickname"] = "Jay"
    code, out, err = _run(
        ["translate", str(CUSTOMER), "--group", "support"], json.dumps(bad) + "\n" + good + "\n"
    )
    assert code == 1
    assert len(out.splitlines()) == 1 and json.loads(out)["customerId"]
    plan = check_mapping(CUSTOMER).plan
    assert plan is not None
    service = SchemaValidator(openapi_document(plan), "InternalRecord").problems(bad)
    assert err.splitlines() == [f"line 1: {p.pointer}: {p.message}" for p in service]
    assert "line 1: /id: required: missing" in err
    assert "line 1: /email: type: expected string" in err
    assert "line 1: /nickname: additionalProperties: this field may not be sent" in err
    assert "Jay" not in err


def test_output_is_validated_against_the_external_schema(keys_env: None, tmp_path: Path) -> None:
    """A record the internal schema accepts but whose translation the external one refuses.

    A masked phone number keeps characters `check` cannot see (`mask` states only
    its length), so an external pattern it breaks is found on the record, at run time.
    """
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    external = tmp_path / "mappings" / "schemas" / "customer.external.json"
    doc = json.loads(external.read_text())
    contact = doc["$defs"]["PartnerCustomer"]["properties"]["contact"]
    contact["properties"]["phone"]["pattern"] = "^[0-9+]"
    external.write_text(json.dumps(doc))
    record = json.loads(SAMPLES.read_text().splitlines()[0])
    mapping = tmp_path / "mappings" / "customer.shim.yaml"
    code, out, err = _run(
        ["translate", str(mapping), "--group", "support"], json.dumps(record) + "\n"
    )
    assert (code, out) == (1, "")
    assert err == (
        "line 1: output /contact/phone: pattern: does not match the pattern ^[0-9+] "
        "(external schema)\n"
    )


def test_a_pattern_a_copy_does_not_promise_is_refused_before_any_record(
    keys_env: None, tmp_path: Path
) -> None:
    """`pass` of a name into a field with a pattern the internal name lacks: every record
    would be refused, so check refuses the mapping (SG106) and translate reads none."""
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    external = tmp_path / "mappings" / "schemas" / "customer.external.json"
    doc = json.loads(external.read_text())
    doc["$defs"]["PartnerCustomer"]["properties"]["firstName"]["pattern"] = "^[A-Z]"
    external.write_text(json.dumps(doc))
    mapping = tmp_path / "mappings" / "customer.shim.yaml"
    code, out, err = _run(
        ["translate", str(mapping), "--group", "support"], SAMPLES.read_text(encoding="utf-8")
    )
    assert (code, out) == (1, "")
    assert (
        "error[SG106]: `name.given` -> `firstName`: the external field requires pattern ^[A-Z], "
        "which the internal field does not promise"
    ) in err
    assert "line 1:" not in err


def test_inbound_payload_is_validated_like_the_service(keys_env: None) -> None:
    code, out, err = _run(
        ["translate", str(CUSTOMER), "--inbound", "--group", "support"],
        '{"status": 7}\n{"status": "active"}\n',
    )
    assert code == 1
    assert len(out.splitlines()) == 1
    assert err.startswith("line 1: /status: ")


def test_dev_keys_warning_names_the_flag() -> None:
    """`translate --dev-keys` says the flag chose the throwaway keyset, not SHIM_DEV_KEYS."""
    from typer.testing import CliRunner

    from shimgen.cli import app

    mapping = Path(__file__).resolve().parent.parent / "mappings" / "customer.shim.yaml"
    result = CliRunner().invoke(
        app, ["translate", str(mapping), "--group", "billing", "--dev-keys"], input=""
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(
        "WARNING: ephemeral development keyset in use (--dev-keys): tokens will not survive"
    )
    assert "SHIM_DEV_KEYS" not in result.stderr
