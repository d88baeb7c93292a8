"""``audit anomalies [URL] [--since 24h]``: the tracking incidents in the audit store, offline.

Heuristic tracking writes ``incident-opened`` and ``incident-closed`` events into
the hash-chained audit trail (:mod:`.events`); this report reads them back from
the store, so it sees every replica that writes there (one PostgreSQL database,
or all of a SQLite store's ``per_worker`` files) without asking any running shim.
Each incident is printed once, with its opening and closing time (or ``open``),
kind, effect, caller, group (``-`` if none was accepted) and route, and its
evidence on an indented line of its own; then, per caller with an
incident, how many requests it made and records it took in the period and how
many were refused. Tracking knows callers by side and exact name
(``internal:alice`` for ``key:alice`` and ``jwt:...#alice``), so the traffic
shown is summed over the credentials of that name. It reads only; ``audit verify`` is what checks the chains.

Exit codes: 0 the report was printed (with or without incidents), 2 the store
or the arguments could not be read.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from ..core import command
from .chain import AuditError
from .grant_ledger import bare_name
from .trail import DEFAULT_URL, printable, read_records

__all__ = ["main", "parse_since", "report"]

# how the operator runs it: `<name>-shim audit anomalies`, or shimgen's copy through audit.trail
_CMD: Final = command("audit", "audit.trail") + " anomalies"
_SPAN = re.compile(r"([0-9]+)([smhd])", re.ASCII)
_UNIT: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_since(text: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d`` -> seconds."""
    match = _SPAN.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError("must be a number and a unit: 90s, 30m, 24h or 7d")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _stamp(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix))


def _shown(value: object) -> str:
    """A field as the report prints it: ``-`` for one the incident does not have.

    An incident before any group was accepted (probing with a group the caller is
    not in) has no group; Python's ``None`` means nothing to the operator reading it.
    """
    return "-" if value is None or value == "" else str(value)


def report(records: Iterable[Mapping[str, Any]], since: str) -> list[str]:
    """The report's lines for records at or after ``since`` (an ISO time, as records write it)."""
    incidents: dict[str, dict[str, Any]] = {}
    traffic: dict[str, list[int]] = {}  # name -> [requests, records, refused]
    for record in records:
        when = record.get("time")
        if not isinstance(when, str) or when < since:
            continue
        event = record.get("event")
        if event == "incident-opened":
            incidents[str(record.get("incident"))] = {**record, "closed": None}
        elif event == "incident-closed":
            opened = incidents.setdefault(
                str(record.get("incident")), {**record, "time": None, "evidence": {}}
            )
            opened["closed"] = when
        elif event is None and isinstance(record.get("caller"), str):
            tally = traffic.setdefault(bare_name(record["caller"]), [0, 0, 0])
            tally[0] += 1
            tally[1] += record.get("records") or 0
            tally[2] += 400 <= (record.get("outcome") or 0) < 500
    still_open = sum(1 for i in incidents.values() if i["closed"] is None)
    lines = [
        f"incidents since {since}: {len(incidents)} ({len(incidents) - still_open} closed, "
        f"{still_open} open)"
    ]
    for ident, inc in sorted(incidents.items(), key=lambda kv: str(kv[1].get("time") or "")):
        lines.append(
            f"from {inc.get('time') or 'before ' + since} "
            f"{'until ' + str(inc['closed']) if inc['closed'] else 'still open'}  "
            f"{_shown(inc.get('kind'))}  effect={_shown(inc.get('effect'))}  "
            f"caller={_shown(inc.get('caller'))}  group={_shown(inc.get('group'))}  "
            f"route={_shown(inc.get('route'))}  incident={ident}"
        )
        evidence = " ".join(f"{k}={v}" for k, v in sorted((inc.get("evidence") or {}).items()))
        if evidence:
            # Its own entry: main() escapes control characters per line, so a "\n" inside
            # one line would print as a literal \x0a instead of starting a new line.
            lines.append(f"    evidence: {evidence}")
    callers = sorted({_shown(i.get("caller")) for i in incidents.values()})
    if callers:
        lines.append("callers with incidents, in the same period:")
        for caller in callers:
            requests, taken, refused = traffic.get(bare_name(caller), [0, 0, 0])
            lines.append(
                f"  {caller}: {requests} requests, {taken} records, {refused} refused (4xx)"
            )
    return lines


def main(argv: Sequence[str] | None = None, now: float | None = None) -> int:
    """``anomalies [URL] [--since SPAN]``; URL defaults to ``SHIM_AUDIT_URL``."""
    parser = argparse.ArgumentParser(
        prog=_CMD,
        description="Print the heuristic-tracking incidents in the audit store.",
    )
    parser.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help=f"audit store (default: $SHIM_AUDIT_URL, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--since", type=parse_since, default=86_400.0, metavar="SPAN",
        help="how far back: 90s, 30m, 24h (default) or 7d",
    )  # fmt: skip
    args = parser.parse_args(argv)
    url = args.url or os.environ.get("SHIM_AUDIT_URL") or DEFAULT_URL
    since = _stamp((time.time() if now is None else now) - args.since)
    try:
        lines = report(read_records(url), since)
    except (AuditError, OSError) as exc:
        print(printable(f"audit trail unreadable: {exc}"), file=sys.stderr)
        return 2
    for line in lines:
        print(printable(line))
    return 0
