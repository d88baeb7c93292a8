"""Tamper evidence that holds against whoever can write the audit store.

The attacker here can read and write the audit store (SQLite file, JSON-lines
file, PostgreSQL table) at will, but does not hold the keyset's audit signing
key. Each case lets the real service write a trail (two runs, so two chains,
with their signed checkpoints), tampers with the store as such an attacker
would, and runs ``audit verify`` with the checkpoints and only the *public*
audit keys: it must exit 1 and name the chain and seq. The seven tampers run
on all three stores.

PostgreSQL cases need ``SHIM_TEST_POSTGRES_URL`` (``eval "$(.ci/postgres.sh)"``).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from starlette.testclient import TestClient

from shimgen.runtime.audit import trail as audit
from shimgen.runtime.audit.anchor import read_checkpoints
from shimgen.runtime.audit.chain import GENESIS, AuditError, chained
from shimgen.runtime.audit.checkpoint import CheckpointPublisher, make_checkpoint
from shimgen.runtime.core import keys
from shimgen.runtime.core.errors import KeysetError
from shimgen.runtime.core.keys import AuditKey, Keyset
from shimgen.runtime.service import logs
from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import ConfigError, Settings
from tests.service_support import KEYS_FILE, RECORD, headers, make_spec, write_callers

KINDS = ["sqlite", "jsonl", "postgresql"]
RUNS = 2  # service runs, so chains
REQUESTS = 4  # records per chain

Row = tuple[str, int, str]


# -- a real trail -----------------------------------------------------------------------


@dataclass
class Trail:
    """A trail the real service wrote, with raw access to its rows to play the attacker."""

    kind: str
    url: str
    target: str  # file path, or PostgreSQL URL
    checkpoints: Path
    public_keys: Path
    chains: list[str]  # in the order the runs wrote them

    def rows(self) -> list[Row]:
        if self.kind == "jsonl":
            out: list[Row] = []
            for line in Path(self.target).read_text().splitlines():
                rec = json.loads(line)
                out.append((rec["chain"], rec["seq"], line))
            return out
        query = "SELECT chain, seq, record FROM audit ORDER BY chain, seq"
        if self.kind == "sqlite":
            with sqlite3.connect(self.target) as conn:
                return list(conn.execute(query))
        with psycopg.connect(self.target) as conn:
            return [(c, s, r) for c, s, r in conn.execute(query)]

    def replace(self, rows: list[Row]) -> None:
        if self.kind == "jsonl":
            Path(self.target).write_text("".join(text + "\n" for _, _, text in rows))
            return
        if self.kind == "sqlite":
            with sqlite3.connect(self.target) as conn:
                conn.execute("DELETE FROM audit")
                conn.executemany("INSERT INTO audit VALUES (?, ?, ?)", rows)
            return
        with psycopg.connect(self.target) as conn:
            conn.execute("DELETE FROM audit")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO audit VALUES (%s, %s, %s)", rows)

    def verify(self, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
        """``audit verify URL --checkpoints FILE --keys PUBLIC``: exit code and output."""
        capsys.readouterr()
        code = audit.main(
            [
                "verify", self.url, "--checkpoints", str(self.checkpoints),
                "--keys", str(self.public_keys),
            ]
        )  # fmt: skip
        out = capsys.readouterr()
        return code, out.out + out.err


def schema_url(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    schema = f"tamper_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield schema_url(postgres_url, schema)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(autouse=True)
def _keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    for var in ("SHIM_KEYS", "SHIM_DEV_KEYS", "SHIM_AUDIT_CHECKPOINTS", "SHIM_AUDIT_URL"):
        monkeypatch.delenv(var, raising=False)


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if kind == "postgresql":
        url = request.getfixturevalue("pg_url")
        return url, url
    path = str(tmp_path / f"audit.{'db' if kind == 'sqlite' else 'jsonl'}")
    return f"{kind}:///{path}", path


def service_settings(tmp_path: Path, url: str, **changes: Any) -> Settings:
    base = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=url,
        audit_checkpoints=str(tmp_path / "checkpoints.jsonl"),
        audit_checkpoint_interval=60.0,
        instance="shim-test",
        rate_limit=0.0,
    )
    return replace(base, **changes)


def run_service(settings: Settings, requests: int = REQUESTS) -> None:
    """Start the real app (lifespan and all), translate ``requests`` records, shut it down."""
    with TestClient(build_app(make_spec(), settings)) as client:
        for _ in range(requests):
            assert client.post("/v1/outbound", json=RECORD, headers=headers()).status_code == 200


def public_keys_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """What an auditor gets: ``keys audit-public`` of the keyset, no private key."""
    capsys.readouterr()
    assert keys.main(["audit-public", str(KEYS_FILE)]) == 0
    path = tmp_path / "audit-public.json"
    path.write_text(capsys.readouterr().out)
    return path


@pytest.fixture(params=KINDS)
def trail(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Trail:
    url, target = store_url(request.param, request, tmp_path)
    settings = service_settings(tmp_path, url)
    for _ in range(RUNS):
        run_service(settings)
    chains: list[str] = []
    for cp in read_checkpoints([str(settings.audit_checkpoints)]):
        if cp["chain"] not in chains:
            chains.append(cp["chain"])
    assert len(chains) == RUNS
    t = Trail(
        request.param, url, target, Path(str(settings.audit_checkpoints)),
        public_keys_file(tmp_path, capsys), chains,
    )  # fmt: skip
    assert t.verify(capsys)[0] == 0, "the untouched trail must verify"
    return t


def at(rows: list[Row], chain: str, seq: int) -> int:
    return next(i for i, (c, s, _) in enumerate(rows) if (c, s) == (chain, seq))


def rehash(text: str, **changes: Any) -> tuple[str, str]:
    """The record ``text`` with ``changes``, its hash recomputed; (new text, new hash)."""
    record = json.loads(text)
    record.update(changes)
    event = {k: v for k, v in record.items() if k not in ("chain", "seq", "prev", "hash")}
    digest, line = chained(event, record["chain"], record["seq"], record["prev"])
    return line.decode(), digest


def rewrite_from_2(trail: Trail, chain: str) -> None:
    """Record 2 of ``chain`` edited and every later hash recomputed: a chain that holds by itself."""
    rows = trail.rows()
    prev = json.loads(rows[at(rows, chain, 1)][2])["hash"]
    for seq in range(2, REQUESTS + 1):
        i = at(rows, chain, seq)
        changes: dict[str, Any] = {"prev": prev}
        if seq == 2:
            changes["caller"] = "someone-else"
        text, prev = rehash(rows[i][2], **changes)
        rows[i] = (chain, seq, text)
    trail.replace(rows)


def assert_tamper_found(trail: Trail, capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code, out = trail.verify(capsys)
    assert code == 1, out
    for needle in needles:
        assert needle in out, out
    return out


# -- the seven tampers, on every store ----------------------------------------------------


def test_edited_record_is_detected(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    chain = trail.chains[0]
    rows = trail.rows()
    i = at(rows, chain, 2)
    record = json.loads(rows[i][2])
    record["outcome"] = 403
    rows[i] = (chain, 2, json.dumps(record, separators=(",", ":"), sort_keys=True))
    trail.replace(rows)
    assert_tamper_found(trail, capsys, f"chain {chain} seq 2", "record edited")


def test_deleted_middle_record_is_detected(
    trail: Trail, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = trail.chains[0]
    rows = trail.rows()
    del rows[at(rows, chain, 2)]
    trail.replace(rows)
    assert_tamper_found(trail, capsys, f"chain {chain} seq 2", "record deleted")


def test_deleted_last_record_is_detected(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    """A chain cut at its end is still a valid chain; its final signed checkpoint is not."""
    chain = trail.chains[0]
    rows = trail.rows()
    del rows[at(rows, chain, REQUESTS)]
    trail.replace(rows)
    assert_tamper_found(
        trail, capsys, f"chain {chain} seq {REQUESTS}", f"covers seq {REQUESTS}",
        f"the chain ends at seq {REQUESTS - 1}: records deleted", "(records missing)",
    )  # fmt: skip


def test_reordered_records_are_detected(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    chain = trail.chains[0]
    rows = trail.rows()
    i, j = at(rows, chain, 2), at(rows, chain, 3)
    if trail.kind == "jsonl":  # swap the lines
        rows[i], rows[j] = rows[j], rows[i]
        needle = "records reordered"
    else:  # a table has no order but its keys: swap the records under them
        rows[i], rows[j] = (chain, 2, rows[j][2]), (chain, 3, rows[i][2])
        needle = "record stored under another chain or seq"
    trail.replace(rows)
    assert_tamper_found(trail, capsys, f"chain {chain} seq 2", needle)


def test_dropped_chain_is_detected(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    """A whole chain (a run's or a worker's records, a per-worker file) removed from the store."""
    chain = trail.chains[0]
    trail.replace([r for r in trail.rows() if r[0] != chain])
    assert_tamper_found(
        trail, capsys, f"chain {chain} seq 1", "no record of this chain is stored",
        "chain or file deleted",
    )  # fmt: skip


def test_rewrite_with_recomputed_hashes_is_detected(
    trail: Trail, capsys: pytest.CaptureFixture[str]
) -> None:
    """Record 2 edited and every later hash recomputed: a perfect chain, but not the signed one."""
    chain = trail.chains[0]
    rewrite_from_2(trail, chain)
    assert audit.verify_url(trail.url).ok, "the rewritten chain holds by itself"
    assert_tamper_found(
        trail, capsys, f"chain {chain} seq {REQUESTS}", "rewritten (hashes recomputed)",
        "(head mismatch)",
    )  # fmt: skip


def test_forged_append_is_detected(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    """A correctly chained record appended after the shim closed its chain."""
    chain = trail.chains[0]
    rows = trail.rows()
    last = json.loads(rows[at(rows, chain, REQUESTS)][2])
    event = {k: v for k, v in last.items() if k not in ("chain", "seq", "prev", "hash")}
    event["request_id"] = "forged"
    _, line = chained(event, chain, REQUESTS + 1, last["hash"])
    rows.append((chain, REQUESTS + 1, line.decode()))
    trail.replace(rows)
    assert audit.verify_url(trail.url).ok, "the forged record chains correctly"
    assert_tamper_found(
        trail, capsys, f"chain {chain} seq {REQUESTS + 1}", "which the final checkpoint",
        "(forged append)",
    )  # fmt: skip


# -- the checkpoints themselves ---------------------------------------------------------------


def test_deleted_checkpoint_is_detected(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting a chain's final checkpoint (to hide a cut tail) leaves a hole in the numbering."""
    lines = trail.checkpoints.read_text().splitlines()
    chain = trail.chains[0]
    first = next(i for i, ln in enumerate(lines) if json.loads(ln)["chain"] == chain)
    del lines[first]
    trail.checkpoints.write_text("".join(ln + "\n" for ln in lines))
    assert_tamper_found(trail, capsys, f"chain {chain}", "#1 is missing", "checkpoints deleted")


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_deleting_the_checkpoint_file_does_not_make_a_rewrite_pass(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default the checkpoints sit beside the store, so whoever can rewrite the store can
    usually delete them: verify then checked the chains alone and said OK, exit 0, for a
    rewrite with recomputed hashes (red-team, third pass). No checkpoints for a store that
    has chains is exit 1 unless the auditor asks for the chains alone (--chains-only)."""
    monkeypatch.chdir(tmp_path)
    url, target = store_url(kind, None, tmp_path)  # type: ignore[arg-type]
    settings = service_settings(tmp_path, url, audit_checkpoints=None)  # the default file
    run_service(settings)
    default = Path(audit.default_checkpoints(url))
    assert default.is_file()
    keys_file = public_keys_file(tmp_path, capsys)
    t = Trail(kind, url, target, default, keys_file, [])
    rewrite_from_2(t, t.rows()[0][0])

    def verify(*flags: str) -> tuple[int, str]:
        capsys.readouterr()
        code = audit.main(["verify", url, "--keys", str(keys_file), *flags])
        out = capsys.readouterr()
        return code, out.out + out.err

    code, out = verify()
    assert code == 1 and "(head mismatch)" in out, out  # the default file is read
    default.unlink()
    code, out = verify()
    assert code == 1, out
    assert (
        out.startswith("NOT VERIFIED: 1 chain(s) hold, but no signed checkpoints")
        and "OK" not in out
    )
    assert str(default) in out
    code, out = verify("--chains-only")  # asked for: the chains alone, with the warning
    assert code == 0 and "warning: no checkpoints given" in out, out
    t.replace([])  # every record deleted too: an emptied store looks like an unused one
    code, out = verify()
    assert code == 1 and out.startswith("NOT VERIFIED: the store is empty"), out


def test_forged_checkpoint_is_refused(trail: Trail, capsys: pytest.CaptureFixture[str]) -> None:
    """A checkpoint signed with a key of the attacker's own, claiming a shorter chain."""
    chain = trail.chains[0]
    own = AuditKey("test-audit1", b"\x01" * 32)
    forged = make_checkpoint(own, chain, 3, REQUESTS - 1, "0" * 64, 0.0, 60.0, True, "0" * 64)
    with trail.checkpoints.open("a") as fh:
        fh.write(json.dumps(forged) + "\n")
    assert_tamper_found(
        trail, capsys, f"chain {chain} seq {REQUESTS - 1}", "(bad checkpoint signature)"
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("kind", KINDS)
def test_missing_checkpoint_interval_is_reported(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Checkpoints that stopped for longer than the interval: hidden, or the shim was stopped."""
    url, _ = store_url(kind, request, tmp_path)
    path = str(tmp_path / "cp.jsonl")
    sink = audit.open_sink(url, "gap")
    clock = FakeClock()
    key = Keyset.from_json(KEYS_FILE.read_text()).audit_key
    pub = CheckpointPublisher(sink, key, path, 10.0, clock=clock, thread=False)
    sink.append(_event())
    clock.now += 10
    pub.publish()
    clock.now += 45  # three intervals without a checkpoint
    sink.append(_event())
    pub.publish()
    clock.now += 10
    pub.close()
    sink.close()
    public = {key.key_id: key.public}
    verdict = audit.verify_url(url, [path], public, now=clock.now)
    assert not verdict.ok
    [problem] = verdict.problems
    assert (problem.chain, problem.seq, problem.kind) == (
        sink.chain,
        2,
        "missing checkpoint interval",
    )  # type: ignore[attr-defined]
    assert "45.0 s, interval 10 s" in problem.meaning


@pytest.mark.parametrize("kind", KINDS)
def test_shim_that_stopped_without_final_checkpoint_is_reported(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """No final checkpoint and none for longer than the interval: a crash, or the tail deleted."""
    url, _ = store_url(kind, request, tmp_path)
    path = str(tmp_path / "cp.jsonl")
    sink = audit.open_sink(url, "crash")
    clock = FakeClock()
    key = Keyset.from_json(KEYS_FILE.read_text()).audit_key
    pub = CheckpointPublisher(sink, key, path, 10.0, clock=clock, thread=False)
    sink.append(_event())
    clock.now += 10
    pub.publish()
    sink.close()  # and no pub.close(): the process died
    public = {key.key_id: key.public}
    assert audit.verify_url(url, [path], public, now=clock.now + 5).ok  # within the interval
    verdict = audit.verify_url(url, [path], public, now=clock.now + 60)
    [problem] = verdict.problems
    assert problem.kind == "missing checkpoint interval" and "no final one" in problem.meaning


def _event() -> dict[str, Any]:
    return {
        "time": "2026-12-03T20:00:00.000000Z", "request_id": "r", "caller_request_id": None,
        "caller": "c", "group": "g",
        "route": "POST /v1/outbound", "direction": "outbound", "mapping": "customer",
        "mapping_version": 1, "mapping_sha256": "ab" * 32, "records": 1, "fields": [],
        "outcome": 200, "latency_ms": 1.0,
    }  # fmt: skip


# -- the other copies: log, metric; and the key itself ----------------------------------------


def test_checkpoints_reach_the_log_and_the_metrics(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log is a second copy verify can use; the metric shows each chain's checkpointed seq."""
    url, _ = store_url("sqlite", request, tmp_path)
    settings = service_settings(tmp_path, url, audit_checkpoint_interval=0.05, log_level="ERROR")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logs.logger.addHandler(handler)
    try:
        app = build_app(make_spec(), settings)
        with TestClient(app) as client:
            for _ in range(3):
                client.post("/v1/outbound", json=RECORD, headers=headers())
            chain = app.state.shim.sink.chain
            deadline = 200
            while (
                f'shim_audit_checkpoint_seq{{chain="{chain}"}} 3.0'
                not in client.get("/metrics").text
            ):
                deadline -= 1
                assert deadline, "no periodic checkpoint covered the three records"
                time.sleep(0.01)
    finally:
        logs.logger.removeHandler(handler)
    log = tmp_path / "service.log"
    log.write_text(stream.getvalue())
    logged = read_checkpoints([str(log)])
    assert logged and all(cp["chain"] == chain for cp in logged)
    assert logged[-1]["final"] and logged[-1]["seq"] == 3
    public = Keyset.from_json(KEYS_FILE.read_text()).audit_public_keys()
    # The log alone (SHIM_LOG_LEVEL=ERROR notwithstanding) anchors the trail ...
    assert audit.verify_url(url, [str(log)], public).ok
    # ... and with the checkpoint file too, each checkpoint counts once.
    both = audit.verify_url(url, [str(log), str(settings.audit_checkpoints)], public)
    assert both.ok and both.checkpoints == 2 * len(logged)


def test_keyset_without_audit_key_stops_the_service(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No silent unsigned mode: an old keyset is a start-up error that says how to fix it."""
    old = json.loads(KEYS_FILE.read_text())
    del old["audit"]
    monkeypatch.setenv("SHIM_KEYS", json.dumps(old))
    monkeypatch.delenv("SHIM_KEYS_FILE")
    url, _ = store_url("sqlite", request, tmp_path)
    app = build_app(make_spec(), service_settings(tmp_path, url))
    with pytest.raises(KeysetError, match=r"no audit signing key.*audit-key FILE"), TestClient(app):
        pass


def test_store_writer_cannot_sign_with_the_public_key(capsys: pytest.CaptureFixture[str]) -> None:
    """What verify is given holds only public halves: nothing that could sign a checkpoint."""
    assert keys.main(["audit-public", str(KEYS_FILE)]) == 0
    public = json.loads(capsys.readouterr().out)["audit_public"]
    keyset = Keyset.from_json(KEYS_FILE.read_text())
    assert public == {
        kid: base64.b64encode(p).decode() for kid, p in keyset.audit_public_keys().items()
    }
    seed = json.loads(KEYS_FILE.read_text())["audit"]["key"]
    assert seed not in json.dumps(public)


def test_rotated_audit_key_still_verifies_old_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``keys audit-key`` retires the old key's public half, so older checkpoints still verify."""
    assert keys.main(["audit-key", str(KEYS_FILE), "--id", "test-audit2"]) == 0
    rotated = Keyset.from_json(capsys.readouterr().out)
    old = Keyset.from_json(KEYS_FILE.read_text())
    assert rotated.audit_key.key_id == "test-audit2"
    assert set(rotated.audit_public_keys()) == {"test-audit1", "test-audit2"}
    assert rotated.audit_public_keys()["test-audit1"] == old.audit_key.public
    assert rotated.tokenize("x", "c") == old.tokenize("x", "c")  # token keys untouched


@pytest.mark.parametrize("raw", ["0", "-5", "nan", "abc", "100000"])
def test_bad_checkpoint_interval_is_a_configuration_error(raw: str) -> None:
    """An interval that would turn checkpoints off (or make them meaningless) is refused."""
    with pytest.raises(ConfigError, match=r"^SHIM_AUDIT_CHECKPOINT_INTERVAL must be a"):
        Settings.from_env({"SHIM_AUDIT_CHECKPOINT_INTERVAL": raw})


def test_unwritable_checkpoint_file_stops_the_service(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Checkpoints that cannot be published are no tamper evidence: the shim does not start."""
    url, _ = store_url("sqlite", request, tmp_path)
    nowhere = str(tmp_path / "missing-dir" / "cp.jsonl")
    app = build_app(make_spec(), service_settings(tmp_path, url, audit_checkpoints=nowhere))
    with pytest.raises(AuditError, match="cannot write audit checkpoint file"), TestClient(app):
        pass


# -- what verify prints from the store cannot drive the terminal ---------------------------------

HOSTILE_CHAIN = "c1\x1b]0;pwned\x07\r\x1b[2Kaudit chain OK\u202e\x9b"


@pytest.mark.parametrize("break_it", [False, True], ids=["ok", "broken"])
def test_verify_escapes_control_characters_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], break_it: bool
) -> None:
    """A chain id with ESC, CR, BEL, a bidi override and a C1 CSI is printed escaped."""
    path = tmp_path / "audit.jsonl"
    lines, prev = [], GENESIS
    for seq in range(1, 3):
        digest, line = chained(_event(), HOSTILE_CHAIN, seq, prev)
        lines.append(line.decode())
        prev = digest
    if break_it:
        lines.pop(0)  # the chain no longer starts where it should
    path.write_text("".join(text + "\n" for text in lines))
    capsys.readouterr()
    code = audit.main(["verify", f"jsonl:///{path}", "--heads", "--chains-only"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == (1 if break_it else 0), text
    assert "c1\\x1b]0;pwned\\x07\\x0d\\x1b[2Kaudit chain OK\\u202e\\x9b" in text
    assert not any(ch in text for ch in "\x1b\r\x07\u202e\x9b"), repr(text)


def _checkpoint_writes_fail(monkeypatch: pytest.MonkeyPatch, times: int, error: OSError) -> None:
    """The next ``times`` writes to the checkpoint file raise ``error``; later ones succeed."""
    from shimgen.runtime.audit import checkpoint

    real = checkpoint._append_line
    left = [times]

    def append_line(target: str, line: bytes) -> None:
        if left[0]:
            left[0] -= 1
            raise error
        real(target, line)

    monkeypatch.setattr(checkpoint, "_append_line", append_line)


def test_a_checkpoint_that_could_not_be_written_is_written_with_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of connections took every file descriptor of a worker, so one checkpoint could
    not be opened for writing; it was dropped, and ``audit verify`` then called the trail
    TAMPERED ("checkpoint #5 is missing", red-team, fifth pass): an attacker's DoS read as
    tampering. The checkpoint is now kept and written before the next one, in order."""

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    path = str(tmp_path / "cp.jsonl")
    sink = audit.open_sink(url, "flood")
    clock = FakeClock()
    key = Keyset.from_json(KEYS_FILE.read_text()).audit_key
    seen: list[tuple[int, bool]] = []
    pub = CheckpointPublisher(
        sink, key, path, 10.0, clock=clock, thread=False,
        on_publish=lambda cp, written: seen.append((cp["n"], written)),
    )  # fmt: skip
    _checkpoint_writes_fail(monkeypatch, 2, OSError(24, "Too many open files"))
    for _ in range(3):
        sink.append(_event())
        clock.now += 10
        pub.publish()
    clock.now += 10
    pub.close()
    sink.close()
    assert seen == [(1, True), (2, False), (3, False), (4, True), (5, True)]
    numbers = [json.loads(line)["n"] for line in Path(path).read_text().splitlines()]
    assert numbers == [1, 2, 3, 4, 5]  # in order, none lost
    verdict = audit.verify_url(url, [path], {key.key_id: key.public}, now=clock.now)
    assert verdict.ok, str(verdict)


def test_checkpoints_that_cannot_be_written_for_long_are_given_up_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backlog is bounded (MAX_UNWRITTEN): past it the oldest are given up, and verify
    reports the hole, which is then the truth (the log still holds them)."""
    from shimgen.runtime.audit import checkpoint

    monkeypatch.setattr(checkpoint, "MAX_UNWRITTEN", 2)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    path = str(tmp_path / "cp.jsonl")
    sink = audit.open_sink(url, "long")
    clock = FakeClock()
    key = Keyset.from_json(KEYS_FILE.read_text()).audit_key
    pub = CheckpointPublisher(sink, key, path, 10.0, clock=clock, thread=False)
    _checkpoint_writes_fail(monkeypatch, 4, OSError(28, "No space left on device"))
    for _ in range(4):  # checkpoints 2..5 fail; at most 2 wait, so 2, 3 and 4 are given up
        clock.now += 10
        pub.publish()
    clock.now += 10
    pub.close()  # 5 and the final 6 are written
    sink.close()
    numbers = [json.loads(line)["n"] for line in Path(path).read_text().splitlines()]
    assert numbers == [1, 5, 6]
    verdict = audit.verify_url(url, [path], {key.key_id: key.public}, now=clock.now)
    assert not verdict.ok
    assert any(
        "checkpoint #2-#4 after checkpoint #1" in problem.meaning for problem in verdict.problems
    )
