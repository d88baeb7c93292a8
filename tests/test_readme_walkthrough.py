"""The README's five-minute walkthrough, replayed: its printed findings must be real."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.cli import app
from tests.expected import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_findings() -> list[str]:
    return re.findall(
        r"^(mappings/my-customer\.shim\.yaml:\d+:\d+: error\[SG\d+\]: .*)$", README, re.M
    )


def test_walkthrough_output_is_what_shimgen_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    init = runner.invoke(
        app,
        [
            "init",
            "customer",
            "--internal",
            "mappings/schemas/customer.internal.json#Customer",
            "--external",
            "mappings/schemas/customer.external.json#PartnerCustomer",
            "-o",
            "mappings/my-customer.shim.yaml",
        ],
    )
    assert init.exit_code == 0
    first = runner.invoke(app, ["check", "mappings/my-customer.shim.yaml"])
    assert first.exit_code == 1
    documented = _readme_findings()
    assert documented[0] in first.stderr.splitlines()

    path = tmp_path / "mappings" / "my-customer.shim.yaml"
    text = path.read_text()
    text = text.replace(
        "  id: drop  # string (uuid)", "  id: {to: customerId, treat: tokenize, inbound: true}"
    )
    text = text.replace("  email: drop  # string (email), pii", "  email: {to: contact.email}")
    text = re.sub(r"  status: drop.*", "  status: {treat: {map: {A: active, S: suspended}}}", text)
    text = text.replace("fields:", "derived:\n  region: {const: eu}\nfields:")
    path.write_text(text)
    second = runner.invoke(app, ["check", "mappings/my-customer.shim.yaml"])
    assert second.exit_code == 1
    printed = [line for line in second.stderr.splitlines() if "error[" in line]
    assert printed == documented[1:]
