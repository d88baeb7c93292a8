"""A grant that exposes more than its approvers reviewed: eligible beyond a group not held.

``beyond: G`` on an elevated group tells ``shimgen review`` that the group's
holders act in ``G`` every day, and the review shows approvers only what a
grant reveals beyond ``G``. A callers file that lists a caller for the
elevated group but not for ``G`` makes that table understate what the grant
exposes to that caller. The shim refuses such a file at start-up, like any
other callers-file error: ``serve`` in one line (exit code 2) and each worker
when it loads the file, naming the line, the caller and the fix.

The serve case runs the golden hr package (``payroll-corrections`` beyond
``payroll``), so it also proves that the committed ``app.py`` carries
``beyond``; the worker cases run the runtime around the golden customer
translator with ``billing`` elevated beyond ``support``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from shimgen.runtime.service.access import GRANTS
from shimgen.runtime.service.app import ElevatedSpec, build_app
from shimgen.runtime.service.elevation import beyond_groups
from shimgen.runtime.service.settings import ConfigError, Settings
from shimgen.runtime.service.startup import check
from tests.security.elevation_support import ISSUER, JWT_SECRET, JWT_SECRET_ENV, as_jwt
from tests.service_support import KEYS_FILE, RECORD, ROOT, make_spec, sha

HR = ROOT / "generated_examples" / "hr_shim"
TIMEOUT = 60.0  # a serve that has not stopped by then started the service: the test fails
BILLING = ElevatedSpec(
    max_seconds=3600, approvals=1, approvers=frozenset({"support"}), beyond="support"
)


def _callers(path: Path, people: dict[str, tuple[str, ...]]) -> Path:
    lines = ["callers:"]
    for name, groups in people.items():
        lines += [f"  - name: {name}", "    side: internal", f"    groups: [{', '.join(groups)}]"]
        lines += [f"    api_keys: ['{sha('beyond-test-key-' + name)}']"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _settings(tmp_path: Path, callers: Path) -> Settings:
    return Settings(
        callers_file=str(callers),
        audit_url=f"sqlite:///{tmp_path / 'audit.db'}",
        audit_checkpoints=str(tmp_path / "checkpoints.jsonl"),
    )


def test_a_caller_eligible_beyond_a_group_it_does_not_hold_is_refused(tmp_path: Path) -> None:
    """``serve`` of the golden hr shim stops in one line before any worker starts."""
    keys = tmp_path / "keys.json"
    shutil.copy(KEYS_FILE, keys)
    people = {"payroll-clerk": ("payroll",), "dana": ("directory", "payroll-corrections")}
    callers = _callers(tmp_path / "callers.yaml", people)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "PROMETHEUS_"))},
        "PYTHONPATH": str(HR),
        "PYTHONDONTWRITEBYTECODE": "1",  # the golden record stays as committed
        "SHIM_KEYS_FILE": str(keys),
        "SHIM_CALLERS_FILE": str(callers),
        "SHIM_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hr_shim", "serve", "--port", "0", "--workers", "1"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: a started service is stopped with it
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("serve started with a caller eligible beyond a group it does not hold")
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, err[-2000:]
    line = lines[0]
    assert ": error: SHIM_CALLERS_FILE:8: " in line, line  # the line of dana's groups
    assert "'dana' is eligible for 'payroll-corrections' but not listed for 'payroll'" in line
    assert "add 'payroll' to the groups of 'dana'" in line
    assert not out.strip() and "Traceback" not in err


def test_a_worker_refuses_the_file_naming_it_the_caller_and_the_fix(tmp_path: Path) -> None:
    """Each worker loads the file itself (``build_app``): the same refusal, with the path."""
    callers = _callers(tmp_path / "callers.yaml", {"bob": ("support",), "dave": ("billing",)})
    spec = make_spec(elevated={"billing": BILLING})
    with pytest.raises(ConfigError) as info:
        build_app(spec, _settings(tmp_path, callers))
    message = str(info.value)
    assert message.startswith(f"{callers}:8: 'dave' is eligible for 'billing'"), message
    assert "not listed for 'support'" in message
    assert "add 'support' to the groups of 'dave', or remove 'billing'" in message


def test_a_callers_file_whose_eligible_callers_hold_the_beyond_group_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed for ``support`` too, ``dave`` passes the check, and is still only eligible."""
    callers = _callers(
        tmp_path / "callers.yaml", {"bob": ("support",), "dave": ("support", "billing")}
    )
    spec = make_spec(elevated={"billing": BILLING})
    env = {
        "SHIM_KEYS_FILE": str(KEYS_FILE),
        "SHIM_CALLERS_FILE": str(callers),
        "SHIM_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
    }
    check(spec.groups, None, env, beyond=beyond_groups(spec.elevated))
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    with TestClient(build_app(spec, _settings(tmp_path, callers))) as client:
        headers = {"X-API-Key": "beyond-test-key-dave", "Content-Type": "application/json"}
        refused = client.post("/v1/outbound", json={}, headers={**headers, "Shim-Group": "billing"})
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/no-active-grant")


def test_without_beyond_nothing_more_is_required(tmp_path: Path) -> None:
    """An elevated group reviewed against the view of no group needs no other group."""
    callers = _callers(tmp_path / "callers.yaml", {"bob": ("support",), "dave": ("billing",)})
    plain = ElevatedSpec(max_seconds=3600, approvals=1, approvers=frozenset({"support"}))
    spec = make_spec(elevated={"billing": plain})
    assert beyond_groups(spec.elevated) == {}
    build_app(spec, _settings(tmp_path, callers))


def test_a_jwt_without_the_beyond_group_may_neither_ask_for_nor_use_a_grant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JWT's groups come with each token, so no start-up check can see them: the grant
    endpoints and the gate ask for ``beyond`` on every request (403 ``not-eligible``)."""
    callers = _callers(tmp_path / "callers.yaml", {"bob": ("support",)})
    callers.write_text(
        callers.read_text(encoding="utf-8")
        + f"jwt:\n  issuer: {ISSUER}\n  audience: customer-shim\n  algorithms: [HS256]\n"
        f"  secret_env: {JWT_SECRET_ENV}\n  side: internal\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(JWT_SECRET_ENV, JWT_SECRET)
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    spec = make_spec(elevated={"billing": BILLING})
    ask = {"group": "billing", "reason": "refund a double charge", "seconds": 600}
    with TestClient(build_app(spec, _settings(tmp_path, callers))) as client:
        refused = client.post(GRANTS, json=ask, headers=as_jwt("dave", ("billing",)))
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/not-eligible")
        assert "do not carry 'support'" in refused.json()["detail"]

        asked = client.post(GRANTS, json=ask, headers=as_jwt("dave", ("support", "billing")))
        assert asked.status_code == 201, asked.text
        bob = {"X-API-Key": "beyond-test-key-bob", "Content-Type": "application/json"}
        approved = client.post(f"{GRANTS}/{asked.json()['grant']['id']}/approve", headers=bob)
        assert approved.status_code == 200, approved.text

        held = as_jwt("dave", ("support", "billing"), "billing")
        assert client.post("/v1/outbound", json=RECORD, headers=held).status_code == 200
        without = as_jwt("dave", ("billing",), "billing")  # the same person, a narrower token
        used = client.post("/v1/outbound", json=RECORD, headers=without)
        assert used.status_code == 403, used.text
        assert used.json()["type"].endswith("/not-eligible")
