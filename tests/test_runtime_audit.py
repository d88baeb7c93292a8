"""The audit trail: chained records in SQLite, PostgreSQL and JSON lines, and their verification.

Tests run against every sink where the behaviour is shared; PostgreSQL tests
need ``SHIM_TEST_POSTGRES_URL`` (``eval "$(.ci/postgres.sh)"``), and each gets
its own schema so they never see each other's records.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from shimgen.runtime.audit import trail as audit
from shimgen.runtime.audit.trail import AuditError, Verdict, open_sink, read_records, verify

ROOT = Path(__file__).resolve().parent.parent
GENESIS = "0" * 64
CONTRACT_FIELDS = {
    "time",
    "request_id",
    "caller_request_id",
    "caller",
    "group",
    "route",
    "direction",
    "mapping",
    "mapping_version",
    "mapping_sha256",
    "records",
    "fields",
    "outcome",
    "latency_ms",
}
SECRET = "4111111111111111"  # stands for a data value that must never reach a record or message


def event(i: int = 0, **changes: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "time": f"2026-11-24T20:00:{i % 60:02d}.123456Z",
        "request_id": f"req-{i}",
        "caller_request_id": None,
        "caller": "partner-a",
        "group": "support",
        "route": "POST /v1/outbound",
        "direction": "outbound",
        "mapping": "customer",
        "mapping_version": 3,
        "mapping_sha256": "ab" * 32,
        "records": 1 + i % 3,
        "fields": ["contact.email:pass", "id:tokenize"],
        "outcome": 200,
        "latency_ms": 1.25 + i,
    }
    ev.update(changes)
    return ev


def canonical_hash(record: dict[str, Any]) -> str:
    """The spec, computed independently of the runtime: sha256 of sorted, spaceless JSON."""
    body = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# -- stores ---------------------------------------------------------------------------

Row = tuple[Any, Any, str]  # (chain, seq, stored text) in storage order


@dataclass
class Store:
    """An audit store plus raw access to its rows, to play the attacker."""

    kind: str
    url: str
    target: str  # file path, or PostgreSQL URL

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
            return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]

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


def schema_url(base: str, schema: str, *options: str) -> str:
    opts = "%20".join([f"-csearch_path%3D{schema}", *options])
    return f"{base}{'&' if '?' in base else '?'}options={opts}"


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    schema = f"audit_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg_url(postgres_url: str, pg_schema: str) -> str:
    return schema_url(postgres_url, pg_schema)


def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if kind == "sqlite":
        path = str(tmp_path / "audit.db")
        return Store(kind, f"sqlite:///{path}", path)
    if kind == "jsonl":
        path = str(tmp_path / "audit.jsonl")
        return Store(kind, f"jsonl:///{path}", path)
    url = request.getfixturevalue("pg_url")
    return Store(kind, url, url)


ALL_KINDS = ["sqlite", "jsonl", "postgresql"]


@pytest.fixture(params=ALL_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "jsonl"])
def file_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(request.param, request, tmp_path)


def fill(url: str, n: int = 5) -> tuple[str, str]:
    """Two writers ("a" and "b", so chain a sorts first) appending alternately; their chain ids."""
    a, b = open_sink(url, "a"), open_sink(url, "b")
    for i in range(n):
        a.append(event(i))
        b.append(event(100 + i))
    a.close()
    b.close()
    return a.chain, b.chain  # type: ignore[attr-defined]


# -- round trip -----------------------------------------------------------------------


def test_round_trip(store: Store) -> None:
    events = [
        event(0),
        event(1, caller=None, group=None, outcome=401, records=0, fields=[]),
        event(
            2, fields=("name:pass",), latency_ms=7, direction="inbound", route="POST /v1/inbound"
        ),
    ]
    sink = open_sink(store.url, "replica-1")
    for ev in events:
        sink.append(ev)
    records = list(sink.records())
    assert records == list(read_records(store.url))
    sink.close()

    assert len(records) == 3
    chain = records[0]["chain"]
    assert chain.startswith(f"replica-1:{os.getpid()}:") and len(chain.rsplit(":", 1)[1]) == 8
    prev = GENESIS
    for seq, (ev, rec) in enumerate(zip(events, records, strict=True), 1):
        assert set(rec) == CONTRACT_FIELDS | {"chain", "seq", "prev", "hash"}
        assert {k: rec[k] for k in CONTRACT_FIELDS} == {**ev, "fields": list(ev["fields"])}
        assert (rec["chain"], rec["seq"], rec["prev"]) == (chain, seq, prev)
        assert rec["hash"] == canonical_hash(rec)
        prev = rec["hash"]
    verdict = verify(records)
    assert verdict == Verdict(True, 1, 3, None, {chain: (3, prev)})
    assert str(verdict) == "audit chain OK: 1 chain, 3 records"


def test_every_open_starts_a_new_chain(store: Store) -> None:
    chains = fill(store.url, 3)
    again = open_sink(store.url, "a")
    again.append(event())
    again.close()
    verdict = audit.verify_url(store.url)
    assert (verdict.ok, verdict.chains, verdict.records) == (True, 3, 7)
    assert verdict.heads[chains[0]][0] == 3
    assert verdict.heads[again.chain][0] == 1  # type: ignore[attr-defined]


def test_stored_text_is_canonical_json(file_store: Store) -> None:
    fill(file_store.url, 1)
    for _, _, text in file_store.rows():
        rec = json.loads(text)
        assert text == json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- refused events -------------------------------------------------------------------


@pytest.fixture
def sqlite_sink(tmp_path: Path) -> Iterator[audit.AuditSink]:
    sink = open_sink(f"sqlite:///{tmp_path / 'audit.db'}", "t")
    yield sink
    sink.close()


def test_extra_key_is_refused_without_echoing_its_value(sqlite_sink: audit.AuditSink) -> None:
    with pytest.raises(AuditError, match=r"unexpected field.*card_number") as info:
        sqlite_sink.append(event(card_number=SECRET))
    assert SECRET not in str(info.value)
    assert list(sqlite_sink.records()) == []


def test_a_value_used_as_key_is_not_echoed(sqlite_sink: audit.AuditSink) -> None:
    with pytest.raises(AuditError, match="1 other") as info:
        sqlite_sink.append({**event(), SECRET: "x"})
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("key", ["chain", "seq", "prev", "hash"])
def test_chain_fields_cannot_be_supplied(sqlite_sink: audit.AuditSink, key: str) -> None:
    with pytest.raises(AuditError, match=f"unexpected field.*{key}"):
        sqlite_sink.append(event(**{key: 1}))


def test_missing_key_is_refused(sqlite_sink: audit.AuditSink) -> None:
    ev = event()
    del ev["outcome"]
    with pytest.raises(AuditError, match=r"missing field.*outcome"):
        sqlite_sink.append(ev)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("caller", 5),
        ("request_id", None),
        ("records", True),
        ("records", -1),
        ("mapping_version", 2.0),
        ("outcome", 42),
        ("latency_ms", math.nan),
        ("latency_ms", math.inf),
        ("latency_ms", -0.5),
        ("latency_ms", "1"),
        ("latency_ms", False),
        ("outcome", True),
        ("outcome", 600),
        ("mapping_version", 2**63),
        ("group", b"support"),
        ("fields", ("ok", None)),
        ("fields", ["ok", 1]),
        ("fields", "contact.email:pass"),
    ],
)
def test_wrongly_typed_field_is_refused(
    sqlite_sink: audit.AuditSink, field: str, value: object
) -> None:
    with pytest.raises(AuditError, match=f"field '{field}' must be"):
        sqlite_sink.append(event(**{field: value}))
    assert list(sqlite_sink.records()) == []


def test_unencodable_values_are_refused(sqlite_sink: audit.AuditSink) -> None:
    with pytest.raises(AuditError, match="not valid Unicode"):
        sqlite_sink.append(event(request_id="\ud800"))
    with pytest.raises(AuditError, match="field 'records' must be"):
        sqlite_sink.append(event(records=2**64))
    sqlite_sink.append(event())
    assert [r["seq"] for r in sqlite_sink.records()] == [1]


def test_subclassed_values_take_the_full_check(sqlite_sink: audit.AuditSink) -> None:
    class Text(str):
        pass

    class Count(int):
        pass

    # Not the exact built-in types, so not the fast path; the full check still accepts them.
    sqlite_sink.append(event(route=Text("POST /v1/outbound"), records=Count(2), fields=("a",)))
    with pytest.raises(AuditError):  # too big for JSON: refused when serialized
        sqlite_sink.append(event(latency_ms=2**70))
    [rec] = [r for r in sqlite_sink.records() if r["records"] == 2]
    assert (rec["route"], rec["fields"]) == ("POST /v1/outbound", ["a"])


def test_chained_line_is_the_canonical_record() -> None:
    from shimgen.runtime.audit.chain import chained

    tricky = ',"latency_ms":\\"hash":"x"}\u2028'
    for ev in (event(), event(7, request_id=tricky, caller=None, group=tricky, fields=[tricky])):
        digest, line = chained(ev, "c:1:ab", 5, "0" * 64)
        rec = dict(ev, chain="c:1:ab", seq=5, prev="0" * 64)
        assert digest == canonical_hash(rec)
        rec["hash"] = digest
        assert line.decode() == json.dumps(
            rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )


def test_non_mapping_is_refused(sqlite_sink: audit.AuditSink) -> None:
    with pytest.raises(AuditError, match="mapping"):
        sqlite_sink.append([("time", "x")])  # type: ignore[arg-type]


def test_refused_event_does_not_consume_a_seq(sqlite_sink: audit.AuditSink) -> None:
    sqlite_sink.append(event(1))
    with pytest.raises(AuditError):
        sqlite_sink.append(event(2, extra=1))
    sqlite_sink.append(event(3))
    assert [r["seq"] for r in sqlite_sink.records()] == [1, 2]
    assert verify(sqlite_sink.records()).ok


# -- tampering --------------------------------------------------------------------------


def edit(text: str, rehash: bool = False, **changes: Any) -> str:
    rec = json.loads(text)
    rec.update(changes)
    if rehash:
        rec["hash"] = canonical_hash(rec)
    return json.dumps(rec, sort_keys=True, separators=(",", ":"))


def index(rows: list[Row], chain: str, seq: int) -> int:
    return next(i for i, (c, s, _) in enumerate(rows) if (c, s) == (chain, seq))


def first_bad(store: Store) -> tuple[str | None, int | None, str]:
    verdict = audit.verify_url(store.url)
    assert not verdict.ok and verdict.first_bad is not None
    bad = verdict.first_bad
    return bad.chain, bad.seq, bad.reason


def test_edited_field_is_detected(store: Store) -> None:
    a, _ = fill(store.url)
    rows = store.rows()
    i = index(rows, a, 3)
    rows[i] = (a, 3, edit(rows[i][2], outcome=403))
    store.replace(rows)
    assert first_bad(store) == (a, 3, "hash mismatch: record edited")


def test_edited_and_rehashed_record_breaks_the_next_link(store: Store) -> None:
    a, _ = fill(store.url)
    rows = store.rows()
    i = index(rows, a, 3)
    rows[i] = (a, 3, edit(rows[i][2], rehash=True, caller="someone-else"))
    store.replace(rows)
    assert first_bad(store) == (a, 4, "prev does not match: record missing or reordered")


@pytest.mark.parametrize("seq", [1, 3])
def test_deleted_record_is_detected(store: Store, seq: int) -> None:
    a, _ = fill(store.url)
    rows = store.rows()
    del rows[index(rows, a, seq)]
    store.replace(rows)
    assert first_bad(store) == (a, seq, "seq gap: record deleted")


def test_deleted_record_with_renumbered_successors_is_detected(store: Store) -> None:
    a, _ = fill(store.url)
    rows = store.rows()
    del rows[index(rows, a, 3)]
    for seq in (4, 5):
        i = index(rows, a, seq)
        rows[i] = (a, seq - 1, edit(rows[i][2], rehash=True, seq=seq - 1))
    store.replace(rows)
    assert first_bad(store) == (a, 3, "prev does not match: record missing or reordered")


def test_reordered_records_are_detected(store: Store) -> None:
    a, _ = fill(store.url)
    rows = store.rows()
    i, j = index(rows, a, 3), index(rows, a, 4)
    if store.kind == "jsonl":  # swap the lines
        rows[i], rows[j] = rows[j], rows[i]
        expected = "seq out of order: records reordered"
    else:  # swap the seq keys of the rows (a database has no other order)
        rows[i], rows[j] = (a, 3, rows[j][2]), (a, 4, rows[i][2])
        expected = "key mismatch: record stored under another chain or seq"
    store.replace(rows)
    assert first_bad(store) == (a, 3, expected)


def test_reordered_and_renumbered_records_are_detected(store: Store) -> None:
    a, _ = fill(store.url)
    rows = store.rows()
    i, j = index(rows, a, 3), index(rows, a, 4)
    rows[i], rows[j] = (
        (a, 3, edit(rows[j][2], rehash=True, seq=3)),
        (a, 4, edit(rows[i][2], rehash=True, seq=4)),
    )
    store.replace(rows)
    assert first_bad(store) == (a, 3, "prev does not match: record missing or reordered")


def test_records_swapped_between_chains_are_detected(store: Store) -> None:
    """Attributing one crossing to another (caller, group, ...) by swapping the events."""
    a, b = fill(store.url)
    rows = store.rows()
    i, j = index(rows, a, 2), index(rows, b, 2)
    ra, rb = json.loads(rows[i][2]), json.loads(rows[j][2])
    payload_a = {k: ra[k] for k in CONTRACT_FIELDS}
    payload_b = {k: rb[k] for k in CONTRACT_FIELDS}
    rows[i] = (a, 2, edit(rows[i][2], **payload_b))
    rows[j] = (b, 2, edit(rows[j][2], **payload_a))
    store.replace(rows)
    assert first_bad(store) == (a, 2, "hash mismatch: record edited")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_rows_swapped_between_chains_are_detected(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = make_store(kind, request, tmp_path)
    a, b = fill(store.url)
    rows = store.rows()
    i, j = index(rows, a, 2), index(rows, b, 2)
    rows[i], rows[j] = (a, 2, rows[j][2]), (b, 2, rows[i][2])
    store.replace(rows)
    assert first_bad(store) == (a, 2, "key mismatch: record stored under another chain or seq")


def test_duplicated_line_is_detected(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = make_store("jsonl", request, tmp_path)
    a, _ = fill(store.url)
    rows = store.rows()
    i = index(rows, a, 3)
    rows.insert(i + 2, rows[i])
    store.replace(rows)
    assert first_bad(store) == (a, 3, "duplicate seq: record repeated")


def test_forged_record_with_a_data_field_is_rejected(store: Store) -> None:
    a, _ = fill(store.url)
    rows = store.rows()
    i = index(rows, a, 2)
    rows[i] = (a, 2, edit(rows[i][2], rehash=True, card=SECRET))
    store.replace(rows)
    assert first_bad(store) == (a, 2, "malformed record: not an audit record")


def test_unreadable_row_is_reported_in_place(store: Store) -> None:
    a, _ = fill(store.url)
    rows = store.rows()
    i = index(rows, a, 2)
    rows[i] = (a, 2, "{not json")
    store.replace(rows)
    verdict = audit.verify_url(store.url)
    assert verdict.first_bad is not None and verdict.first_bad.position == i + 1
    assert verdict.first_bad.reason == "unreadable record: not valid JSON"
    if store.kind != "jsonl":  # a database row still names its key
        assert (verdict.first_bad.chain, verdict.first_bad.seq) == (a, 2)


def test_torn_last_line_is_reported(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = make_store("jsonl", request, tmp_path)
    fill(store.url, 2)
    with open(store.target, "a") as fh:
        fh.write('{"chain":"a:1:')
    verdict = audit.verify_url(store.url)
    assert verdict.records == 5 and verdict.first_bad is not None
    assert (verdict.first_bad.position, verdict.first_bad.kind) == (5, "unreadable record")
    assert str(verdict) == "audit chain BROKEN at record #5: not valid JSON (unreadable record)"


def test_deleting_the_last_record_needs_the_heads_to_notice(store: Store) -> None:
    """The documented limit: a chain cut at its end is still a valid chain; its head shows it."""
    a, _ = fill(store.url)
    rows = store.rows()
    before = audit.verify_url(store.url).heads[a]
    del rows[index(rows, a, 5)]
    store.replace(rows)
    after = audit.verify_url(store.url)
    assert after.ok
    assert before[0] == 5 and after.heads[a][0] == 4 and after.heads[a] != before


def test_verify_in_memory_reports_the_earliest_break() -> None:
    records: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(1, 5):
        rec = {**event(seq), "chain": "x", "seq": seq, "prev": prev}
        rec["hash"] = prev = canonical_hash(rec)
        records.append(rec)
    assert verify(records).ok
    broken = [records[0], records[2], records[1], {"unexpected": True}, records[3]]
    verdict = verify(broken)
    assert verdict.first_bad is not None
    assert (verdict.first_bad.position, verdict.first_bad.seq) == (2, 2)
    assert verdict.first_bad.reason == "seq out of order: records reordered"
    assert verify([*records[:2], records[1]]).first_bad == audit.Break(
        3, "x", 2, "duplicate seq", "record repeated"
    )
    assert verify([]) == Verdict(True, 0, 0)


def test_verdict_wording() -> None:
    assert str(Verdict(True, 3, 1204)) == "audit chain OK: 3 chains, 1,204 records"
    bad = audit.Break(9, "web-1:7:0a1b2c3d", 17, "hash mismatch", "record edited")
    assert (
        str(Verdict(False, 3, 1204, bad))
        == "audit chain BROKEN at chain web-1:7:0a1b2c3d seq 17: record edited (hash mismatch)"
    )


# -- fail closed ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_removed_directory_fails_append_and_check(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    folder.mkdir()
    sink = open_sink(f"{kind}:///{folder / 'audit.db'}", "t")
    sink.append(event())
    sink.check()
    shutil.rmtree(folder)
    with pytest.raises(AuditError, match="is gone"):
        sink.append(event())
    with pytest.raises(AuditError, match="is gone"):
        sink.check()
    sink.close()


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_replaced_file_fails_append_and_check(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "audit.x"
    sink = open_sink(f"{kind}:///{path}", "t")
    sink.append(event())
    path.rename(tmp_path / "rotated")
    path.write_text("")
    with pytest.raises(AuditError, match="was replaced"):
        sink.append(event())
    with pytest.raises(AuditError, match="was replaced"):
        sink.check()
    sink.close()


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_missing_directory_fails_open(kind: str, tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="cannot open"):
        open_sink(f"{kind}:///{tmp_path / 'no' / 'such' / 'audit.db'}", "t")


def run_unprivileged(fn: Callable[[], None]) -> None:
    """Run ``fn`` in a forked child that cannot override file permissions (root can)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        status = 1
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            fn()
            os.write(write_end, b"ok")
            status = 0
        except BaseException:
            os.write(write_end, traceback.format_exc().encode())
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert b"".join(chunks) == b"ok", b"".join(chunks).decode()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory an unprivileged child can use (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="shimgen-audit-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_read_only_file_fails_append_check_and_open(kind: str, open_dir: Path) -> None:
    url = f"{kind}:///{open_dir / 'audit.db'}"

    def scenario() -> None:
        sink = open_sink(url, "t")
        sink.append(event())
        for name in os.listdir(open_dir):
            os.chmod(open_dir / name, 0o444)
        for call in (lambda: sink.append(event()), sink.check, lambda: open_sink(url, "t")):
            try:
                call()
            except AuditError as exc:
                assert any(
                    why in str(exc) for why in ("not writable", "readonly", "Permission denied")
                ), exc
            else:
                raise AssertionError("a read-only audit file was accepted")
        assert verify(read_records(url)).records == 1

    run_unprivileged(scenario)


def test_closed_sink_refuses(sqlite_sink: audit.AuditSink) -> None:
    sqlite_sink.close()
    sqlite_sink.close()  # idempotent
    with pytest.raises(AuditError, match="closed"):
        sqlite_sink.append(event())
    with pytest.raises(AuditError, match="closed"):
        sqlite_sink.check()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_postgres_fails_append_and_check_without_leaking_the_password() -> None:
    url = f"postgresql://shim:{SECRET}@127.0.0.1:{free_port()}/audit?connect_timeout=2"
    sink = open_sink(url, "t")  # a server that is down must not stop the shim from starting
    for call in (lambda: sink.append(event()), sink.check, sink.check):
        with pytest.raises(AuditError, match="unavailable") as info:
            call()
        assert SECRET not in str(info.value)
    with pytest.raises(AuditError, match="cannot read") as info:
        audit.verify_url(url)
    assert SECRET not in str(info.value)
    sink.close()


@pytest.mark.parametrize("rest", ["host/db?bogus=1", "[::1/db"])
def test_malformed_postgres_url_fails_open_without_leaking_the_password(rest: str) -> None:
    url = f"postgresql://shim:{SECRET}@{rest}"  # libpq's own message would quote it whole
    for call in (lambda: open_sink(url, "t"), lambda: audit.verify_url(url)):
        with pytest.raises(AuditError, match="not a valid") as info:
            call()
        assert SECRET not in str(info.value)


def test_read_only_postgres_fails_append_and_check(postgres_url: str, pg_schema: str) -> None:
    fill(schema_url(postgres_url, pg_schema), 1)  # the table exists
    url = schema_url(postgres_url, pg_schema, "-cdefault_transaction_read_only%3Don")
    sink = open_sink(url, "t")
    with pytest.raises(AuditError, match="read-only"):
        sink.check()
    with pytest.raises(AuditError, match="read-only"):
        sink.append(event())
    sink.close()


def test_postgres_reconnects_after_losing_its_connection(pg_url: str) -> None:
    sink = open_sink(pg_url, "t")
    sink.append(event(1))
    with psycopg.connect(pg_url, autocommit=True) as admin:
        pid = sink._conn.info.backend_pid  # type: ignore[attr-defined]
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    sink.append(event(2))  # reconnects and retries
    sink.check()
    sink.append(event(3))
    sink.close()
    verdict = audit.verify_url(pg_url)
    assert (verdict.ok, verdict.chains, verdict.records) == (True, 1, 3)


class _LosesInsertAnswers:
    """A connection whose INSERTs commit but whose answers are lost on the way back."""

    closed = broken = False

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, query: str, params: Any = None) -> Any:
        result = self._conn.execute(query, params)
        if query.startswith("INSERT"):
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return result

    def close(self) -> None:
        self._conn.close()


def test_postgres_record_whose_answer_was_lost_is_not_written_twice(pg_url: str) -> None:
    sink = open_sink(pg_url, "t")
    sink.append(event(1))
    sink._conn = _LosesInsertAnswers(sink._conn)  # type: ignore[attr-defined]
    sink.append(event(2))  # stored, answer lost: the sink finds it after reconnecting
    sink.append(event(3))
    sink.close()
    records = list(read_records(pg_url))
    assert [r["request_id"] for r in records] == ["req-1", "req-2", "req-3"]
    assert verify(records).ok


# -- concurrency ----------------------------------------------------------------------------


def test_threads_share_one_sink(store: Store) -> None:
    sink = open_sink(store.url, "t")

    def work(k: int) -> None:
        for i in range(50):
            sink.append(event(k * 1000 + i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    verdict = audit.verify_url(store.url)
    assert (verdict.ok, verdict.chains, verdict.records) == (True, 1, 200)


def test_verify_while_another_writer_appends(file_store: Store) -> None:
    """Verification sees a consistent prefix, never a half-written last record."""
    sink = open_sink(file_store.url, "t")
    for i in range(20):
        sink.append(event(i))

    def writer() -> None:
        for i in range(2000):
            sink.append(event(i, fields=["x" * 50] * 40))

    thread = threading.Thread(target=writer)
    thread.start()
    verdicts = []
    try:
        while thread.is_alive():
            verdicts.append(audit.verify_url(file_store.url))
    finally:
        thread.join()
        sink.close()
    assert all(v.ok for v in verdicts), [str(v) for v in verdicts if not v.ok]
    assert audit.verify_url(file_store.url).records == 2020


_WORKER = """
import json, sys, time
from shimgen.runtime.audit.trail import open_sink
url, name, n, start, template = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
sink = open_sink(url, name)
while time.time() < start:
    time.sleep(0.001)
for i in range(n):
    sink.append({**template, "request_id": f"{name}-{i}"})
sink.close()
"""


def test_two_processes_append_concurrently(store: Store) -> None:
    n = 200 if store.kind == "postgresql" else 400
    start = time.time() + 1.5  # both are importing by then; they start together
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                store.url,
                name,
                str(n),
                str(start),
                json.dumps(event()),
            ],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for name in ("p1", "p2")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    records = list(read_records(store.url))
    verdict = verify(records)
    assert (verdict.ok, verdict.chains, verdict.records) == (True, 2, 2 * n), verdict
    ids = {r["request_id"] for r in records}
    assert ids == {f"p{k}-{i}" for k in (1, 2) for i in range(n)}


def test_sqlite_per_worker_files_verify_as_one_store(tmp_path: Path) -> None:
    """?per_worker=1: each process writes PATH.w<pid>; the plain URL reads them all as one store."""
    base = tmp_path / "audit.db"
    url = f"sqlite:///{base}?per_worker=1"
    n, start = 100, time.time() + 1.5
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, name, str(n), str(start), json.dumps(event())],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for name in ("p1", "p2")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    files = sorted(f.name for f in tmp_path.glob("audit.db.w*") if f.suffix.startswith(".w"))
    assert len(files) == 2 and not base.exists()
    for plain in (url, f"sqlite:///{base}"):
        verdict = audit.verify_url(plain)
        assert (verdict.ok, verdict.chains, verdict.records) == (True, 2, 2 * n), verdict
    victim = tmp_path / files[1]
    with sqlite3.connect(victim) as db:
        db.execute("DELETE FROM audit WHERE seq = 50")
    verdict = audit.verify_url(f"sqlite:///{base}")
    assert not verdict.ok and verdict.first_bad is not None and verdict.first_bad.seq == 50


def test_forked_child_writes_its_own_chain(store: Store) -> None:
    sink = open_sink(store.url, "t")
    sink.append(event(1))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        status = 1
        try:
            sink.append(event(2))
            sink.append(event(3))
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    sink.append(event(4))
    sink.close()
    verdict = audit.verify_url(store.url)
    assert (verdict.ok, verdict.chains, verdict.records) == (True, 2, 4)
    assert sorted(seq for seq, _ in verdict.heads.values()) == [2, 2]


def test_fork_while_the_lock_is_held_does_not_deadlock_the_child(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    sink = open_sink(url, "t")
    lock = sink._lock  # type: ignore[attr-defined]
    with lock:  # as if another thread were appending at the moment of fork()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            signal.alarm(10)
            status = 1
            try:
                sink.append(event(1))
                status = 0
            finally:
                os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    sink.close()
    assert audit.verify_url(url).records == 1


# -- URLs, CLI, speed -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x", "must be sqlite"),
        ("sqlite:///", "must be sqlite"),
        ("sqlite://relative.db", "must be sqlite"),
        ("audit.db", r"jsonl:///PATH; for that file, sqlite:///audit\.db$"),
        ("sqlite:///a.db?journal=wal", "unknown sqlite audit URL option 'journal'"),
        ("sqlite:///a.db?synchronous=off", "must be one of normal, full, extra"),
        ("jsonl:///a.jsonl?fsync=maybe", "must be one of"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(AuditError, match=message):
        open_sink(url, "t")


def test_sink_options_set_blocking(tmp_path: Path) -> None:
    assert not open_sink(f"sqlite:///{tmp_path / 'a.db'}", "t").blocking
    assert open_sink(f"sqlite:///{tmp_path / 'b.db'}?synchronous=full", "t").blocking
    assert not open_sink(f"jsonl:///{tmp_path / 'a.jsonl'}", "t").blocking
    assert open_sink(f"jsonl:///{tmp_path / 'b.jsonl'}?fsync=1", "t").blocking


def test_relative_sqlite_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sink = open_sink(audit.DEFAULT_URL, "t")
    sink.append(event())
    sink.close()
    assert (tmp_path / "audit.db").is_file()


def test_cli_ok_broken_and_unreadable(
    file_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = fill(file_store.url)
    # no checkpoints anywhere: the chains alone prove nothing against whoever wrote them
    assert audit.main(["verify", file_store.url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("NOT VERIFIED: 2 chain(s) hold, but no signed checkpoints")
    assert "--checkpoints FILE" in err and "--chains-only" in err
    assert audit.main(["verify", file_store.url, "--chains-only"]) == 0
    assert capsys.readouterr().out == "audit chain OK: 2 chains, 10 records\n"

    rows = file_store.rows()
    i = index(rows, a, 3)
    rows[i] = (a, 3, edit(rows[i][2], outcome=500))
    file_store.replace(rows)
    for flags in ([], ["--chains-only"]):  # broken either way
        assert audit.main(["verify", file_store.url, *flags]) == 1
        assert capsys.readouterr().out == (
            f"audit chain BROKEN at chain {a} seq 3: record edited (hash mismatch)\n"
        )

    os.remove(file_store.target)
    assert audit.main(["verify", file_store.url]) == 2
    assert capsys.readouterr().err.startswith("audit trail unreadable: ")


def test_cli_default_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHIM_AUDIT_URL", raising=False)
    assert audit.main(["verify"]) == 2  # ./audit.db does not exist, and verify must not create it
    assert not (tmp_path / "audit.db").exists()
    capsys.readouterr()
    url = f"jsonl:///{tmp_path / 'trail.jsonl'}"
    fill(url, 1)
    monkeypatch.setenv("SHIM_AUDIT_URL", url)
    assert audit.main(["verify", "--heads", "--chains-only"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "audit chain OK: 2 chains, 2 records"
    assert [line.split()[0:4:2] for line in out[1:]] == [["head", "seq"], ["head", "seq"]]


@pytest.mark.parametrize("dev_keys", [False, True])
def test_cli_without_a_keyset_says_the_keyset_is_missing(
    dev_keys: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Checkpoints need the audit public keys; without them the trail is not "unreadable".

    SHIM_DEV_KEYS makes a fresh keyset, which verifies no checkpoint ever signed, so it
    counts as none here rather than calling every checkpoint forged.
    """
    for var in ("SHIM_KEYS", "SHIM_KEYS_FILE", "SHIM_AUDIT_CHECKPOINTS", "SHIM_DEV_KEYS"):
        monkeypatch.delenv(var, raising=False)
    if dev_keys:
        monkeypatch.setenv("SHIM_DEV_KEYS", "1")
    url = f"jsonl:///{tmp_path / 'trail.jsonl'}"
    fill(url, 1)
    checkpoints = tmp_path / "checkpoints.jsonl"
    checkpoints.write_text("", encoding="utf-8")
    assert audit.main(["verify", url, "--checkpoints", str(checkpoints)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audit keys missing: no keyset: neither SHIM_KEYS_FILE nor SHIM_KEYS")
    assert "unreadable" not in err and f"({checkpoints})" in err
    assert "keys new > keys.json`" in err and "keys audit-public keys.json" in err
    assert "--keys FILE" in err and err.count("\n") == 1
    # a --keys file that cannot be read is about the keys as well
    assert audit.main(["verify", url, "--checkpoints", str(checkpoints), "--keys", "nope"]) == 2
    assert capsys.readouterr().err.startswith("audit keys unusable: cannot read --keys nope")


def test_generated_cli_names_the_command_as_typed(tmp_path: Path) -> None:
    """`python -m customer_shim audit verify` suggests `python -m customer_shim keys new`."""
    golden = ROOT / "generated_examples" / "customer_shim"
    url = f"jsonl:///{tmp_path / 'trail.jsonl'}"
    fill(url, 1)
    (tmp_path / "checkpoints.jsonl").write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIM_")}
    env["PYTHONPATH"] = str(golden)
    done = subprocess.run(
        [sys.executable, "-m", "customer_shim", "audit", "verify", url,
         "--checkpoints", str(tmp_path / "checkpoints.jsonl")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "`python -m customer_shim keys new > keys.json`" in done.stderr


@pytest.mark.parametrize(
    ("start", "prog"),
    [
        (["-m", "customer_shim"], "python -m customer_shim audit"),
        # the installed script: argv[0] is its path (no install needed to see the prog)
        (
            ["-c", "import sys; sys.argv[0] = '/venv/bin/customer-shim'; "
             "from customer_shim.__main__ import main; main()"],
            "customer-shim audit",
        ),
    ],
)  # fmt: skip
def test_audit_sub_commands_name_their_program(start: list[str], prog: str) -> None:
    """`customer-shim audit anomalies --help` said `usage: audit anomalies`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "generated_examples" / "customer_shim")}

    def usage(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, *start, "audit", *argv, "--help"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout

    assert usage("anomalies").startswith(f"usage: {prog} anomalies [-h]")
    assert usage("verify").startswith(f"usage: {prog} verify [-h]")
    listed = usage()
    assert listed.startswith(f"usage: {prog} [-h]") and "anomalies" in listed


def test_shimgen_copy_of_anomalies_runs_as_its_usage_says(tmp_path: Path) -> None:
    """Outside a generated package the prog is shimgen's module, and that command works."""
    url = f"jsonl:///{tmp_path / 'trail.jsonl'}"
    fill(url, 1)
    module = ["-m", "shimgen.runtime.audit.trail", "anomalies"]
    help_text = subprocess.run(
        [sys.executable, *module, "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert help_text.startswith("usage: python -m shimgen.runtime.audit.trail anomalies [-h]")
    done = subprocess.run(
        [sys.executable, *module, url], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("incidents since "), done.stderr


def test_cli_as_module(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    fill(url, 2)
    result = subprocess.run(
        [sys.executable, "-m", "shimgen.runtime.audit.trail", "verify", url, "--chains-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "audit chain OK: 2 chains, 4 records\n")


def test_sqlite_append_is_cheap(sqlite_sink: audit.AuditSink) -> None:
    """A guard against per-append connects or fsyncs; the benchmark measures the real cost (~30 µs)."""
    ev = event()
    for _ in range(50):
        sqlite_sink.append(ev)
    start = time.perf_counter()
    for _ in range(1000):
        sqlite_sink.append(ev)
    assert (time.perf_counter() - start) / 1000 < 0.001


def test_fork_while_the_checkpoint_thread_is_inside_sqlite(tmp_path: Path) -> None:
    """A child forked at any moment of a checkpoint can still use SQLite (it once hung in CI)."""
    from shimgen.runtime.audit.sqlite_checkpoint import Checkpointer

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    sink = open_sink(url, "t")
    sink.append(event(1))
    busy = Checkpointer(str(tmp_path / "audit.db"), interval=0)  # checkpoints back to back
    try:
        for i in range(40):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - child
                status = 1
                try:
                    conn = sqlite3.connect(str(tmp_path / f"child{i}.db"))
                    conn.execute("CREATE TABLE t (x)")
                    conn.close()
                    status = 0
                finally:
                    os._exit(status)
            status = _wait_child(pid, seconds=20)
            assert status == 0, f"fork {i}: the child hung or failed (status {status})"
    finally:
        busy.stop()
        sink.close()


def _wait_child(pid: int, seconds: float) -> int | None:
    """The child's wait status, or None (after killing it) if it has not ended in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None
