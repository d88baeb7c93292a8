"""Where shimgen's data files are, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _templates() -> Path:
    # A wheel carries templates/ as shimgen/templates/ (pyproject.toml maps it); a checkout or
    # an editable install has it beside the package.
    installed = _PACKAGE / "templates"
    return installed if installed.is_dir() else _PACKAGE.parent / "templates"


TEMPLATES_DIR = _templates()
RUNTIME_DIR = _PACKAGE / "runtime"
