"""Heuristic tracking, measured: 14 simulated days of callers, six attack kinds injected.

Run from the repo root: ``python bench/anomaly.py [--seed N] [--callers N] [--days N]``.

The real :class:`~shimgen.runtime.service.tracking.Tracker` (the one the service
runs, default thresholds, 60 s windows, 7-day warm-up) is fed one observation per
simulated request with a simulated clock; no HTTP is involved (the service tests
check the wiring). The simulation, from a seeded RNG so runs repeat exactly:

* callers (default 24) of three rhythms: *office* (Monday-Friday, a start hour
  between 07:00 and 10:00 UTC that wanders up to half an hour a day, 8-9 hours),
  *shift* (every day, 06:00-18:00) and *service* (around the clock with a daily
  peak); each has its own request rate (varying by hour), groups, routes and
  record batch sizes, 1 % refusals (403/422), and rare inbound rejections;
* from day 8 (after the warm-up) attacks, each by a different caller using its
  own credentials, at least ``--per-kind`` (3) of each kind:
  ``enumeration`` (2 distinct ids a second on a proxy route, 5 minutes),
  ``volume`` (the caller's pii records at 10 times its mean rate per active minute,
  measured over its warm-up, 10 minutes; on callers with outbound or list routes,
  since 10x of a caller that only looks single records up stays under the floor),
  ``off-hours`` (an office caller at 03:00 UTC, 20 ordinary requests),
  ``probing`` (a request a second answered 403/422, 3 minutes),
  ``mass-assignment`` (a body with unopened fields every 10 s, 422, 3 minutes),
  ``first-use`` (a route the caller never used, in a group it never used), and
  ``enumeration-spread`` (an enumeration spread over two groups and two routes,
  to check that spreading does not evade, detected as ``enumeration``).

For each kind it prints whether every injected attack was detected (an incident
of that kind for that caller opened after the attack started) and the slowest
time to detect; and the false alarms: incidents opened outside any attack span
(start to end plus one window), per 10,000 normal requests. Targets (issue 13 §2):
every kind detected; volume and enumeration within 60 simulated seconds of the
start; at most 1 false alarm per 10,000 normal requests.
"""

from __future__ import annotations

import argparse
import calendar
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shimgen.runtime.service.incidents import TrackingConfig  # noqa: E402
from shimgen.runtime.service.tracking import Tracker  # noqa: E402

DAY = 86_400.0
START = float(calendar.timegm((2026, 11, 2, 0, 0, 0)))  # a Monday, 00:00 UTC
GROUPS = {"support": ("pii",), "billing": ("pii", "secret"), "analytics": ()}
LOOKUP = "GET /customers/{customerId}"
ROUTES = (
    ("POST /v1/outbound", "out"),
    ("POST /v1/inbound", "in"),
    (LOOKUP, "lookup"),
    ("GET /customers", "list"),
    ("PATCH /customers/{customerId}", "patch"),
)
NEW_ROUTE = "DELETE /customers/{customerId}"
FAST_KINDS = ("volume", "enumeration")
ATTACKS = ("enumeration", "volume", "off-hours", "probing", "mass-assignment", "first-use")


@dataclass
class Caller:
    name: str
    rhythm: str
    rate: float  # requests per active minute at the peak
    start_hour: float
    groups: tuple[str, ...]
    routes: tuple[tuple[str, str], ...]
    weights: tuple[float, ...]
    batch: int  # mean records per outbound request
    pool: int  # distinct customers this caller works on
    attacks: list[tuple[str, float, float]] = field(default_factory=list)  # kind, start, end


def make_callers(rng: random.Random, count: int) -> list[Caller]:
    callers = []
    for i in range(count):
        rhythm = ("office", "office", "shift", "service")[i % 4]
        groups = rng.choice((("support",), ("billing",), ("support", "billing")))
        routes = tuple(rng.sample(ROUTES, rng.randint(2, 4)))
        if not any(kind in ("out", "list", "lookup") for _, kind in routes):
            routes = (*routes[:-1], ROUTES[0])
        if not any(kind == "lookup" for _, kind in routes):
            routes = (*routes, (LOOKUP, "lookup"))
        weights = tuple(rng.uniform(0.3, 1.0) for _ in routes)
        callers.append(
            Caller(
                f"key:caller-{i:02d}", rhythm, rng.uniform(2.0, 8.0), rng.uniform(7.0, 10.0),
                groups, routes, weights, rng.randint(3, 12), rng.randint(200, 5000),
            )
        )  # fmt: skip
    return callers


def activity(caller: Caller, t: float, day_shift: float) -> float:
    """Share of the caller's peak rate at simulated time ``t`` (0 when off)."""
    days = (t - START) / DAY
    weekday = int(days) % 7
    hour = (days % 1) * 24
    if caller.rhythm == "office":
        begin = caller.start_hour + day_shift
        if weekday >= 5 or not begin <= hour < begin + 8.5:
            return 0.0
        return 0.5 + 0.5 * math.sin(math.pi * (hour - begin) / 8.5)
    if caller.rhythm == "shift":
        return 0.6 + 0.4 * math.sin(math.pi * (hour - 6) / 12) if 6 <= hour < 18 else 0.0
    return 0.3 + 0.7 * max(0.0, math.sin(math.pi * (hour - 6) / 16))  # service: always on


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def normal_request(rng: random.Random, c: Caller, t: float) -> tuple:
    route, kind = rng.choices(c.routes, c.weights)[0]
    group = rng.choice(c.groups)
    records, status, rejected, ids = 0, 200, False, None
    if kind == "out":
        records = max(1, int(rng.expovariate(1 / c.batch)))
    elif kind == "list":
        records = max(1, int(rng.expovariate(1 / (2 * c.batch))))
    elif kind == "lookup":
        records, ids = 1, (rng.randrange(c.pool),)
    elif kind == "patch":
        ids = (rng.randrange(c.pool),)
    if rng.random() < 0.01:
        status, records = rng.choice((403, 422, 404)), 0
        rejected = status == 422 and kind in ("in", "patch") and rng.random() < 0.3
    return (t, c.name, group, route, records, status, rejected, ids, False)


def attack_requests(
    rng: random.Random, c: Caller, kind: str, t0: float, mean: float
) -> tuple[list, float]:
    """The attack's requests (tagged) and its end time; ``mean``: the caller's pii records a minute."""
    out: list[tuple] = []
    group = c.groups[0]
    if kind in ("enumeration", "enumeration-spread"):
        base = 10_000_000 + rng.randrange(10**6)
        for i in range(600):  # 2 a second, 5 minutes
            g, route = group, LOOKUP
            if kind == "enumeration-spread":
                g = ("support", "billing")[i % 2]
                route = (LOOKUP, "PATCH /customers/{customerId}")[i // 2 % 2]
            out.append((t0 + i / 2, c.name, g, route, 1, 200, False, (base + i,), True))
        return out, t0 + 300
    if kind == "volume":
        per_request = max(1, c.batch)
        n = math.ceil(10 * mean * 10 / per_request)  # ten minutes at 10x the caller's mean
        for i in range(n):
            t = t0 + 600 * i / n
            out.append((t, c.name, group, "POST /v1/outbound", per_request, 200, False, None, True))
        return out, t0 + 600
    if kind == "off-hours":
        for i in range(20):
            out.append((t0 + 30 * i, c.name, group, c.routes[0][0], 1, 200, False, None, True))
        return out, t0 + 600
    if kind == "probing":
        for i in range(180):
            status = (403, 422)[i % 2]
            out.append((t0 + i, c.name, group, LOOKUP, 0, status, False, None, True))
        return out, t0 + 180
    if kind == "mass-assignment":
        for i in range(18):
            t = t0 + 10 * i
            out.append((t, c.name, group, "POST /v1/inbound", 0, 422, True, None, True))
        return out, t0 + 180
    # first-use: a route and a group the caller never used
    new_group = "analytics"
    out.append((t0, c.name, new_group, NEW_ROUTE, 0, 204, False, (rng.randrange(c.pool),), True))
    return out, t0 + 1


def schedule(rng: random.Random, callers: list[Caller], per_kind: int, days: int) -> list:
    """Attack start times: days 8.. of the run, inside each caller's active hours (except off-hours)."""
    kinds = [k for k in (*ATTACKS, "enumeration-spread") for _ in range(per_kind)]
    pool = list(callers)
    rng.shuffle(pool)
    office = [c for c in pool if c.rhythm == "office"]
    plan = []
    for i, kind in enumerate(kinds):
        if kind == "off-hours":
            c = office[i % len(office)]
            day = 8 + i % max(1, days - 9)
            while int(day) % 7 >= 5:
                day += 1
            t0 = START + day * DAY + 3 * 3600 + rng.uniform(0, 1200)
        else:
            # a volume attack needs a caller that exports records at all (outbound or list
            # routes): 10x of a caller that only looks single records up stays under the
            # 30-record floor, below which volume is not judged (see docs/access.md)
            exporters = [c for c in pool if any(k in ("out", "list") for _, k in c.routes)]
            candidates = exporters if kind == "volume" else pool
            c = candidates[i % len(candidates)]
            t0 = 0.0
            for _ in range(1000):
                day = rng.randint(8, days - 1)
                cand = START + day * DAY + rng.uniform(0, DAY)
                if activity(c, cand, 0) > 0.5 and activity(c, cand + 900, 0) > 0.5:
                    t0 = cand
                    break
        plan.append((c, kind, t0))
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--callers", type=int, default=24)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--per-kind", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    callers = make_callers(rng, args.callers)
    tracker = Tracker(TrackingConfig(), classes_out=GROUPS)
    window = tracker.window
    attacks = schedule(rng, callers, args.per_kind, args.days)
    injected: list[tuple] = []
    spans: dict[str, list[tuple[float, float]]] = {}
    # records a sensitive view carried, and active minutes, per caller during the warm-up:
    # a volume attack is ten times the caller's own measured mean
    carried = {c.name: [0, set()] for c in callers}
    attack_day = 8 * 1440
    shifts = {(c.name, d): rng.uniform(-0.5, 0.5) for c in callers for d in range(args.days)}

    opened: list[tuple[float, str, str]] = []  # time, caller, kind
    normal = total = 0
    wall = time.perf_counter()
    next_attack = 0
    for minute in range(int(args.days * DAY / 60)):
        t_min = START + minute * 60
        day = minute // 1440
        batch = []
        for c in callers:
            lam = c.rate * activity(c, t_min, shifts[(c.name, day)])
            for _ in range(poisson(rng, lam)):
                batch.append(normal_request(rng, c, t_min + rng.uniform(0, 60)))
        if minute == attack_day:
            for c, kind, t0 in attacks:
                records, active = carried[c.name]
                reqs, end = attack_requests(rng, c, kind, t0, records / max(1, len(active)))
                injected.extend(reqs)
                c.attacks.append((kind, t0, end))
                spans.setdefault(c.name, []).append((t0, end + window))
            injected.sort(key=lambda r: r[0])
        while next_attack < len(injected) and injected[next_attack][0] < t_min + 60:
            batch.append(injected[next_attack])
            next_attack += 1
        batch.sort(key=lambda r: r[0])
        for t, name, group, route, records, status, rejected, ids, attack in batch:
            total += 1
            normal += not attack
            if minute < attack_day:
                tally = carried[name]
                tally[1].add(int(t // 60))
                if GROUPS.get(group):
                    tally[0] += records
            for change in tracker.observe(name, group, route, records, status, rejected, ids, t):
                if change.event == "incident-opened":
                    opened.append((t, name, change.incident.kind))
    elapsed = time.perf_counter() - wall

    false_alarms = [
        (t, name, kind)
        for t, name, kind in opened
        if not any(a <= t <= b for a, b in spans.get(name, ()))
    ]
    print(
        f"simulated {args.days} days, {len(callers)} callers, {total:,} requests "
        f"({normal:,} normal, {total - normal:,} attack) in {elapsed:.1f} s wall; "
        f"seed {args.seed}, window {window:.0f} s, warm-up {tracker.config.warmup_seconds / DAY:.0f} days"
    )
    ok = True
    for kind in (*ATTACKS, "enumeration-spread"):
        detects = "enumeration" if kind == "enumeration-spread" else kind
        times = []
        for c, k, t0 in attacks:
            if k != kind:
                continue
            hits = [
                t - t0 for t, name, seen in opened if name == c.name and seen == detects and t >= t0
            ]
            times.append(min(hits) if hits else None)
        found = sum(x is not None for x in times)
        slowest = max((x for x in times if x is not None), default=math.nan)
        limit = 60.0 if detects in FAST_KINDS else None
        passed = found == len(times) and (limit is None or slowest <= limit)
        ok &= passed
        target = f"every one, within {limit:.0f} s" if limit else "every one"
        print(
            f"{kind}: detected {found}/{len(times)}, slowest after {slowest:.1f} simulated s "
            f"(target: {target}) {'PASS' if passed else 'FAIL'}"
        )
    rate = len(false_alarms) / normal * 10_000 if normal else math.inf
    passed = rate <= 1.0
    ok &= passed
    kinds = sorted({k for _, _, k in false_alarms})
    print(
        f"false alarms: {rate:.2f} per 10,000 normal requests ({len(false_alarms)} in {normal:,}"
        f"{'; kinds: ' + ', '.join(kinds) if kinds else ''}) (target <= 1) {'PASS' if passed else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
