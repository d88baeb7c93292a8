"""`shimgen init` on every real schema lists every field, and the result covers them all.

The schemas are read in place from ../shared/real-schemas (never copied into
this repository).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from shimgen.mapping.yamlpos import load_yaml
from shimgen.schema.model import format_path, iter_leaves
from tests.test_real_schemas import LEAF_BUDGET, loaded, real_dir

__all__ = ["real_dir"]  # the fixture, re-used


@pytest.mark.parametrize(("name", "model"), sorted(LEAF_BUDGET, key=str))
def test_init_lists_every_field_and_denies_all(
    real_dir: Path, tmp_path: Path, name: str, model: str | None
) -> None:
    spec = f"{real_dir / name}#{model}" if model else str(real_dir / name)
    target = tmp_path / "real.shim.yaml"
    result = CliRunner().invoke(
        app, ["init", "real", "--internal", spec, "--external", spec, "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    listed = list(load_yaml(target.read_text())["fields"])
    expected = [format_path(leaf.path) for leaf in iter_leaves(loaded(real_dir, name, model).root)]
    assert listed == expected and expected, "init lists exactly the schema's fields"
    checked = check_mapping(target)
    # dropping everything covers every field; only required *external* fields
    # still want a source, which is the author's next step
    unexpected = [f.format() for f in checked.findings if f.code != "SG105"]
    assert unexpected == [], "an all-drop mapping has no coverage or path findings"
