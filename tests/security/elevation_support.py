"""Set-up for the elevated-groups (rotational access) attack tests (not a test module).

The customer example's spec with ``billing`` elevated (two approvals from members
of ``support``, one holder at a time, excluding ``support``, 15 minutes of
break-glass), a callers file of eligible callers and approvers, and apps that
share one audit store (so one grant store) and one controllable clock: several
"workers" of the same shim in one process, each its own app, connection and
audit chain.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from starlette.testclient import TestClient

from shimgen.runtime.audit import trail
from shimgen.runtime.service.app import ElevatedSpec, build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import RECORD, make_spec, sha

BILLING = ElevatedSpec(
    max_seconds=3600,
    approvals=2,
    approvers=frozenset({"support"}),
    max_holders=1,
    excludes=frozenset({"support"}),
    break_glass_seconds=900,
)
# name -> groups; alice, dave and erin are eligible for billing; bob, carol and alice approve
CALLERS = {
    "alice": ("support", "billing"),
    "bob": ("support",),
    "carol": ("support",),
    "dave": ("billing",),
    "erin": ("billing",),
}
EXTERNAL = {"pat": ("support",)}  # a partner listed in an approver group by mistake


def key(name: str) -> str:
    return f"elevation-test-key-{name}-" + "k" * 24


JWT_SECRET_ENV = "ELEVATION_TEST_JWT_SECRET"
JWT_SECRET = "elevation-test-jwt-secret-" + "s" * 32
ISSUER = "https://idp.elevation.test/"


def write_callers(path: Path) -> Path:
    """The API-key callers, and an internal JWT issuer: the same people's second credential."""
    lines = ["callers:"]
    for name, groups in CALLERS.items():
        lines += [f"  - name: {name}", "    side: internal", f"    groups: [{', '.join(groups)}]"]
        lines += [f"    api_keys: ['{sha(key(name))}']"]
    for name, groups in EXTERNAL.items():
        lines += [f"  - name: {name}", "    side: external", f"    groups: [{', '.join(groups)}]"]
        lines += [f"    api_keys: ['{sha(key(name))}']"]
    lines += ["jwt:", f"  issuer: {ISSUER}", "  audience: customer-shim", "  algorithms: [HS256]"]
    lines += [f"  secret_env: {JWT_SECRET_ENV}", "  side: internal"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def as_jwt(name: str, groups: tuple[str, ...], group: str | None = None) -> dict[str, str]:
    """Request headers of ``name``'s JWT (the second credential), with ``groups`` in it."""
    now = int(time.time())
    claims = {"sub": name, "iss": ISSUER, "aud": "customer-shim", "exp": now + 600,
              "groups": list(groups)}  # fmt: skip
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    out = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if group is not None:
        out["Shim-Group"] = group
    return out


def as_(name: str, group: str | None = None) -> dict[str, str]:
    """Request headers of caller ``name`` (acting in ``group``, if given)."""
    out = {"X-API-Key": key(name), "Content-Type": "application/json"}
    if group is not None:
        out["Shim-Group"] = group
    return out


@dataclass
class Clock:
    """One wall clock for every app of a test, moved by hand. It starts at the real time:
    crossings carry the real time, and ``audit verify`` holds them to their grant's.

    A test that verifies grant times against crossings without moving the clock sets
    ``real``: a stopped clock drifts behind the crossings' real time by however long
    the test runs (seconds on a loaded machine), beyond the skew verify tolerates."""

    now: float = field(default_factory=time.time)
    real: bool = False

    def __call__(self) -> float:
        return time.time() if self.real else self.now


@dataclass
class Cluster:
    """Apps ("workers") sharing one audit store, grant store and clock."""

    tmp: Path
    audit_url: str
    clock: Clock = field(default_factory=Clock)
    clients: list[TestClient] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return list(trail.read_records(self.audit_url))

    def grant_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records()
            if str(r.get("event", "")).startswith("grant-") and (kind is None or r["event"] == kind)
        ]


def settings(tmp: Path, audit_url: str, instance: str) -> Settings:
    return Settings(
        callers_file=str(write_callers(tmp / "callers.yaml")),
        audit_url=audit_url,
        # never the PostgreSQL default, ./audit-checkpoints.jsonl in the working directory
        audit_checkpoints=str(tmp / f"checkpoints-{instance}.jsonl"),
        instance=instance,
        rate_limit=1000.0,
        rate_burst=1000,
        log_level="DEBUG",
    )


@contextlib.contextmanager
def cluster(
    tmp: Path,
    workers: int = 2,
    audit_url: str | None = None,
    tracking: dict[str, str] | None = None,
    **rules: ElevatedSpec,
) -> Iterator[Cluster]:
    """``workers`` apps of the customer shim with ``billing`` elevated (or ``rules``);
    ``tracking``: the mapping's effects per kind."""
    tmp.mkdir(parents=True, exist_ok=True)
    url = audit_url or f"sqlite:///{tmp / 'audit.db'}"
    spec = make_spec(elevated=rules or {"billing": BILLING}, tracking=tracking or {})
    found = Cluster(tmp, url)
    before = os.environ.get(JWT_SECRET_ENV)
    os.environ[JWT_SECRET_ENV] = JWT_SECRET
    with contextlib.ExitStack() as stack:
        stack.callback(_restore, JWT_SECRET_ENV, before)
        for i in range(workers):
            app = build_app(spec, settings(tmp, url, f"worker{i}"))
            client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
            access = app.state.shim.access
            access.grants.clock = found.clock
            found.clients.append(client)
        yield found


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def request_grant(client: TestClient, name: str, **body: Any) -> Any:
    payload = {"group": "billing", "reason": "INC-1234 refund dispute", **body}
    return client.post("/v1/access/grants", json=payload, headers=as_(name))


def act(client: TestClient, name: str, grant: str, action: str, **body: Any) -> Any:
    return client.post(f"/v1/access/grants/{grant}/{action}", json=body or None, headers=as_(name))


def active_grant(
    client: TestClient, name: str = "alice", approvers: tuple[str, ...] = ("bob", "carol")
) -> str:
    """Request billing for ``name`` and have it approved; returns the grant id."""
    answer = request_grant(client, name)
    assert answer.status_code == 201, answer.text
    gid = str(answer.json()["grant"]["id"])
    for approver in approvers:
        done = act(client, approver, gid, "approve")
        assert done.status_code == 200, done.text
    return gid


def outbound(client: TestClient, name: str, group: str = "billing") -> Any:
    return client.post("/v1/outbound", json=RECORD, headers=as_(name, group))
