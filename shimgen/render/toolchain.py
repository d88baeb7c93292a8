"""What besides the inputs decides the generated files: the runtime and the tools' versions.

``SHIM.lock.json`` records these beside shimgen's own version so that ``shimgen
verify`` can say which one makes a shim stale (``runtime 0.2.0 in the lock, 0.3.0
now``) instead of only that shimgen differs. The tools are the two third-party
programs whose output lands in the package:

* ``ruff``: formats every generated Python file (black's style; ``formatting``).
  black itself is not run (ruff replaced it, see ``formatting``), so its version
  changes nothing and is not recorded.
* ``datamodel-code-generator``: writes ``internal_models.py``/``external_models.py``.

Both are pinned to tested ranges in ``pyproject.toml``: a new formatter can change
every generated file, and the golden record is the test that it did not.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from shimgen.runtime import __version__ as runtime_version

RUNTIME = "runtime"
TOOLS = ("ruff", "datamodel-code-generator")


def toolchain() -> dict[str, str]:
    """The runtime's version and each tool's installed version, in a fixed order."""
    found = {RUNTIME: runtime_version}
    for tool in TOOLS:
        try:
            found[tool] = version(tool)
        except PackageNotFoundError:  # pragma: no cover - both are declared dependencies
            found[tool] = "not installed"
    return found


def changes(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """One line per component whose version differs: its name, the lock's version, today's."""
    return [
        f"{name} {recorded.get(name, 'unrecorded')} in the lock, {now[name]} now"
        for name in now
        if recorded.get(name) != now[name]
    ]
