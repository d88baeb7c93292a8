"""The JSON-lines audit store: one record per line, for shipping with a log collector."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from .chain import AuditError, reason
from .sinks import _FileSink

__all__ = ["JsonlSink", "jsonl_records"]


class JsonlSink(_FileSink):
    """Audit records as JSON lines appended to one file, for shipping with a log collector.

    Each record is one ``write`` of a whole line under an exclusive ``flock``, so
    writers in several processes never interleave partial lines; a short write
    (disk full) is truncated away before the error is raised. Without ``fsync``
    a record survives a crash of the process once ``append`` returns; with it
    (``jsonl:///PATH?fsync=1``) also a crash of the machine, and ``blocking``
    is true.
    """

    kind = "JSONL"

    def __init__(self, path: str, instance: str, fsync: bool = False) -> None:
        self._fsync = fsync
        self.blocking = fsync
        super().__init__(path, instance)
        self._fd = self._open()

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise AuditError(f"cannot open JSONL audit file {self.path}: {reason(exc)}") from None
        try:
            st = os.fstat(fd)
        except OSError as exc:  # pragma: no cover - fstat on a fresh fd does not fail
            os.close(fd)
            raise AuditError(f"cannot open JSONL audit file {self.path}: {reason(exc)}") from None
        self._ident = (st.st_dev, st.st_ino)
        return fd

    def _write(self, seq: int, line: bytes) -> None:
        self._still_writable()
        data = line + b"\n"
        fd = self._fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise AuditError(f"cannot lock JSONL audit file {self.path}: {reason(exc)}") from None
        size = -1
        try:
            size = os.fstat(fd).st_size
            if os.write(fd, data) != len(data):
                raise OSError(28, "short write, no space left on device?")
            if self._fsync:
                os.fsync(fd)
        except OSError as exc:
            if size >= 0:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # never leave half a line behind
            raise AuditError(f"cannot write JSONL audit file {self.path}: {reason(exc)}") from None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _reopen(self) -> None:
        # The inherited descriptor shares its flock with the parent's; use our own.
        os.close(self._fd)
        self._fd = self._open()

    def _close(self) -> None:
        os.close(self._fd)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every stored record, in file order."""
        return jsonl_records(self.path)


def jsonl_records(path: str) -> Iterator[dict[str, Any]]:
    """Read every record of the JSON-lines store at ``path``, as it was when the call was made.

    The size is taken under a brief shared lock, when no writer is half-way
    through a line, and only that much is read: records appended meanwhile are
    left for the next verification instead of showing up as a torn line. A
    line that is not a JSON object (including a final line with no newline,
    the trace of a torn write) becomes ``{"problem": "unreadable", "line": n}``.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the generator below
    except OSError as exc:
        raise AuditError(f"cannot read JSONL audit file {path}: {reason(exc)}") from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        try:
            size = os.fstat(fh.fileno()).st_size
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except OSError as exc:
        fh.close()
        raise AuditError(f"cannot read JSONL audit file {path}: {reason(exc)}") from None
    return _jsonl_lines(fh, size, path)


def _jsonl_lines(fh: BinaryIO, size: int, path: str) -> Iterator[dict[str, Any]]:
    with fh:
        try:
            number = 0
            while fh.tell() < size:
                raw = fh.readline(size - fh.tell())
                number += 1
                try:
                    record = orjson.loads(raw) if raw.endswith(b"\n") else None
                except orjson.JSONDecodeError:
                    record = None
                if isinstance(record, dict):
                    yield record
                else:
                    yield {"problem": "unreadable", "line": number}
        except OSError as exc:
            raise AuditError(f"cannot read JSONL audit file {path}: {reason(exc)}") from None
