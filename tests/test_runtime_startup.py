"""The start-up check in process: what it returns, which variable it names, what it hides.

The end-to-end cases (the real ``serve``, 1 and 2 workers) are in
tests/security/test_startup.py; these pin the pieces they rely on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shimgen.runtime.service.startup import StartupError, check, scrub
from tests.service_support import KEYS_FILE, write_callers

GROUPS = ("support", "billing")
SECRET = "pa55-Word-xyzzy"


def _env(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {
        "SHIM_KEYS_FILE": str(KEYS_FILE),
        "SHIM_CALLERS_FILE": str(write_callers(tmp_path / "callers.yaml")),
        "SHIM_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
    }
    env.update(changes)
    return env


def test_good_configuration_returns_settings_and_keyset(tmp_path: Path) -> None:
    checked = check(GROUPS, "UP", _env(tmp_path, UP="http://internal.example/api/"))
    assert checked.settings.upstream_url == "http://internal.example/api"
    assert checked.keyset.primary == "test1" and not checked.dev
    assert not (tmp_path / "audit.db").exists()  # the check opens nothing


def test_dev_keys_are_made_once_and_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env(tmp_path, SHIM_DEV_KEYS="1")
    del env["SHIM_KEYS_FILE"]
    checked = check(GROUPS, None, env)
    assert checked.dev and checked.keyset.primary == "dev"
    assert capsys.readouterr().err.count("ephemeral development keyset") == 1


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"SHIM_MAX_DEPTH": "0"}, "SHIM_MAX_DEPTH"),
        ({"UP": f"ftp://u:{SECRET}@x/"}, "UP"),
        ({"SHIM_KEYS_FILE": f"/nowhere/{SECRET}.json"}, "SHIM_KEYS_FILE"),
        ({"SHIM_CALLERS_FILE": f"/nowhere/{SECRET}.yaml"}, "SHIM_CALLERS_FILE"),
        ({"SHIM_AUDIT_URL": f"postgresql://u:{SECRET}@h/db?bogus=1"}, "SHIM_AUDIT_URL"),
        ({"SHIM_AUDIT_URL": f"jsonl:///nowhere/{SECRET}.jsonl"}, "SHIM_AUDIT_URL"),
        ({"SHIM_AUDIT_URL": "jsonl:///a.jsonl?fsync=" + SECRET}, "SHIM_AUDIT_URL"),
    ],
)
def test_first_bad_value_is_named_and_never_quoted(
    tmp_path: Path, changes: dict[str, str], variable: str
) -> None:
    with pytest.raises(StartupError) as info:
        check(GROUPS, "UP", _env(tmp_path, **changes))
    line = str(info.value)
    assert info.value.variable == variable
    assert line.startswith(variable) and "\n" not in line
    assert SECRET not in line


def test_callers_file_errors_name_the_variable_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad-callers.yaml"
    path.write_text(
        "callers:\n  - name: x\n    groups: [admins]\n    api_keys: []\n", encoding="utf-8"
    )
    with pytest.raises(StartupError) as info:
        check(GROUPS, None, _env(tmp_path, SHIM_CALLERS_FILE=str(path)))
    assert str(info.value).startswith("SHIM_CALLERS_FILE:3:"), str(info.value)
    assert str(tmp_path) not in str(info.value)


def test_scrub_replaces_the_longest_value_first() -> None:
    env = {"SHIM_A": "/srv/shim", "SHIM_B": "/srv/shim/keys.json", "SHIM_C": "on"}
    message = "cannot read '/srv/shim/keys.json' under /srv/shim; on"
    assert scrub(message, env, env) == "cannot read <SHIM_B> under <SHIM_A>; on"
