"""What the generated service needs to know about the mapping, computed once.

The service must not interpret the mapping at run time, so every fact it
uses (which fields each group's responses carry and with which treatment, for
the audit trail; which fields each group may send; the proxy routes) is
computed here at generation time and rendered into ``app.py`` as literals.
The OpenAPI document and the generated README read the same lists, so the
three can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shimgen.check.plan import Route, Rule, ShimPlan, View
from shimgen.schema.model import format_path


def fields_out(plan: ShimPlan, view: View) -> tuple[str, ...]:
    """``"contact.email:mask_email"`` for every external field ``view`` is sent, in mapping order.

    Derived fields are named by how they are made (``template``, ``const``, ``count``):
    no internal value crosses as such, but the audit trail still lists them.
    """
    out = [
        f"{format_path(r.external)}:{r.treatment(view).name}"
        for r in plan.rules
        if r.out_node is not None and r.treatment(view).emits
    ]
    out.extend(f"{format_path(d.external)}:{d.kind}" for d in plan.derived if d.emitted(view))
    return tuple(out)


def classes_out(plan: ShimPlan, view: View) -> tuple[str, ...]:
    """The sensitive levels (``pii``, ``secret``) a record in ``view`` carries, for tracking.

    A field counts whatever its treatment (a masked email or a token is still about
    a person): heuristic tracking measures how many such records a caller takes.
    """
    levels = {r.level for r in plan.rules if r.out_node is not None and r.treatment(view).emits}
    return tuple(level for level in ("pii", "secret") if level in levels)


def sends(rule: Rule, view: View) -> bool:
    """``view`` may send ``rule``'s field back: opted in, emitted and reversible for that view.

    The one definition of the rule (deny by default): the translator's inbound functions
    (``codegen``), the OpenAPI ``InboundPayload``, the service's ``fields_in``, the generated
    tests' inbound pairs and the README's inbound column all read it through here.
    """
    return rule.inbound and rule.treatment(view).reversible and rule.treatment(view).emits


def inbound_rules(plan: ShimPlan, view: View) -> list[Rule]:
    """Rules ``view`` may send back: opted in and reversible for that view (deny by default)."""
    return [r for r in plan.rules if sends(r, view)]


def fields_in(plan: ShimPlan, view: View) -> tuple[str, ...]:
    """``"customerId:tokenize"`` for every external field ``view`` may send, in mapping order."""
    return tuple(
        f"{format_path(r.external)}:{r.treatment(view).name}" for r in inbound_rules(plan, view)
    )


def any_inbound(plan: ShimPlan) -> list[Rule]:
    """Rules at least one view may send: the fields of the OpenAPI ``InboundPayload``.

    One pass over the rules: asking ``r in inbound_rules(plan, v)`` per rule was quadratic
    (170 of 560 profiled seconds of `generate` on a 10,000-field schema).
    """
    return [r for r in plan.rules if any(sends(r, v) for v in plan.views)]


def inbound_paths(plan: ShimPlan) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """(internal path, external path) of every field some view may send, as segments.

    The service checks the internal values inbound translation makes against the
    internal schema; this lets its 422 point at the external field the caller sent.
    """
    return tuple((tuple(r.internal), tuple(r.external)) for r in any_inbound(plan))


@dataclass(frozen=True)
class RouteView:
    """A proxy route as ``app.py`` and the README render it (plain, sorted values)."""

    method: str
    path: str
    internal_method: str
    internal_path: str
    params: tuple[tuple[str, str, str, str], ...]
    groups: tuple[str, ...]
    query: tuple[str, ...]
    has_body: bool


def route_views(plan: ShimPlan) -> list[RouteView]:
    return [_route_view(r) for r in plan.routes]


def _route_view(route: Route) -> RouteView:
    return RouteView(
        route.method,
        route.path,
        route.internal_method,
        route.internal_path,
        tuple(
            (p.name, format_path(p.external), format_path(p.internal), p.internal_name)
            for p in route.params
        ),
        tuple(sorted(route.groups)),  # rendered into a frozenset: a fixed order keeps bytes stable
        route.query,
        route.has_body,
    )


@dataclass(frozen=True)
class ElevatedView:
    """An elevated group as ``app.py`` renders it into ``ElevatedSpec`` (sorted, closed values)."""

    group: str
    max_seconds: int
    approvals: int
    approvers: tuple[str, ...]
    max_holders: int | None
    excludes: tuple[str, ...]  # both ways: a group that excludes this one is listed too
    break_glass_seconds: int | None
    # the standing group review compares the grant with; the service refuses a callers file
    # that lists a caller eligible for the group but not for this one (None: nothing to hold)
    beyond: str | None


def elevated_views(plan: ShimPlan) -> list[ElevatedView]:
    """Every elevated group, with ``excludes`` closed both ways.

    Separation of duty is symmetric: if holding `a` excludes acting in `b`, then an
    active grant for `b` excludes acting in `a`. The mapping may say it once.
    """
    excludes: dict[str, set[str]] = {g: set() for g in plan.groups}
    for group, e in plan.elevated.items():
        for other in e.excludes:
            excludes[group].add(other)
            excludes[other].add(group)
    return [
        ElevatedView(
            group,
            e.max_seconds,
            e.approvals,
            tuple(sorted(e.approvers)),
            e.max_holders,
            tuple(sorted(excludes[group])),
            e.break_glass_seconds,
            e.beyond,
        )
        for group, e in plan.elevated.items()
    ]


ENV_VARS: tuple[tuple[str, str, str], ...] = (
    ("SHIM_KEYS", "none", "The keyset (JSON) for tokens and hashes."),
    ("SHIM_KEYS_FILE", "none", "A file holding the keyset, instead of `SHIM_KEYS`."),
    (
        "SHIM_DEV_KEYS",
        "off",
        "`1`: a throw-away development keyset, with a warning. Never in production.",
    ),
    (
        "SHIM_CALLERS_FILE",
        "none: every request gets 401",
        "The callers file (YAML): API key hashes, JWT issuer.",
    ),
    (
        "SHIM_AUDIT_URL",
        "`sqlite:///./audit.db`",
        "Where the audit trail goes: `sqlite:///PATH`, `postgresql://...`, `jsonl:///PATH`. "
        "With several workers add `?per_worker=1` to a SQLite URL: each worker then writes "
        "its own `PATH.w<pid>` file, and `audit verify` reads them all as one trail.",
    ),
    (
        "SHIM_AUDIT_CHECKPOINTS",
        "`PATH.checkpoints.jsonl` beside a file store, `./audit-checkpoints.jsonl` for PostgreSQL",
        "File the signed audit checkpoints are appended to (also logged, event "
        "`audit-checkpoint`). Keep it where the audit store's writers cannot delete it.",
    ),
    (
        "SHIM_AUDIT_CHECKPOINT_INTERVAL",
        "60",
        "Seconds between signed audit checkpoints; one more at start-up and one at shutdown. "
        "`audit verify` reports a gap over twice this as a missing checkpoint interval.",
    ),
    ("SHIM_MAX_BODY_BYTES", "1048576", "Larger request bodies get 413."),
    (
        "SHIM_REQUEST_TIMEOUT",
        "60",
        "Seconds a whole request (headers and body) may take to arrive, 30 to 3600; then 408 "
        "and the connection is closed (`serve` only). Raise it with `SHIM_MAX_BODY_BYTES` "
        "when large bodies come over slow links.",
    ),
    ("SHIM_MAX_BATCH", "1000", "More records in one request get 413."),
    ("SHIM_MAX_DEPTH", "32", "Deeper JSON nesting gets 400."),
    (
        "SHIM_RATE_LIMIT",
        "50",
        "Requests per second per caller (token bucket); `0` turns it off. Without "
        "`SHIM_SHARED_STORE_URL` the buckets live in each worker process: with W workers and "
        "R replicas a caller may reach W x R times this rate.",
    ),
    ("SHIM_RATE_BURST", "100", "Requests a caller may make at once before the rate applies."),
    (
        "SHIM_SHARED_STORE_URL",
        "none: limits per process",
        "`redis://HOST:PORT/DB` (`rediss://` for TLS; a password as `redis://:PASSWORD@HOST...`): "
        "one Redis server for every worker and replica, so each caller's rate limit holds for "
        "the whole service. See [Rate limits across workers and replicas]"
        "(#rate-limits-across-workers-and-replicas).",
    ),
    (
        "SHIM_SHARED_STORE_TIMEOUT",
        "0.25",
        "Seconds a rate-limit check, or a heuristic-tracking push of counts, may wait for that "
        "Redis server (0.001 to 5); then this process's own limit decides and tracking uses "
        "this worker's own counts, until Redis answers again.",
    ),
    (
        "SHIM_UPSTREAM_TIMEOUT",
        "5.0",
        "Seconds to wait for the internal API (proxy routes); then 504.",
    ),
    ("SHIM_INSTANCE", "host name", "Names this replica in the audit trail and logs."),
    (
        "SHIM_LOG_LEVEL",
        "INFO",
        "DEBUG, INFO, WARNING, ERROR or CRITICAL; logs never carry data values.",
    ),
    (
        "SHIM_ACCESS_LOG",
        "on",
        "`on` or `off`: one JSON log line per request (see [Logs](#logs)).",
    ),
    (
        "SHIM_TRACKING",
        "on",
        "`on` or `off`: heuristic tracking of each caller (see [Tracking](#tracking)); what "
        "each detection does is set in the mapping's `tracking:`.",
    ),
    ("SHIM_TRACKING_WINDOW", "60", "Seconds per tracking window (1 to 3600)."),
    (
        "SHIM_TRACKING_WARMUP_HOURS",
        "168",
        "Hours of history a caller needs before its baselines are used (and "
        "`SHIM_TRACKING_WARMUP_REQUESTS`).",
    ),
    (
        "SHIM_TRACKING_WARMUP_REQUESTS",
        "100",
        "Requests a caller needs before its baselines are used.",
    ),
)
"""The service's environment variables, for the generated README (``runtime/service/settings.py``
and ``runtime/core/keys.py`` read them; a test holds this list to those modules)."""


def service_context(plan: ShimPlan) -> dict[str, Any]:
    """What ``app.py``, the README and the deployment files render about the service."""
    groups = list(plan.groups)
    upstream = plan.upstream
    return {
        "fields_out": [(g, fields_out(plan, g)) for g in groups],
        "fields_in": [(g, fields_in(plan, g)) for g in groups],
        "routes": route_views(plan),
        "inbound_paths": inbound_paths(plan),
        "elevated": elevated_views(plan),
        "classes_out": [(g, classes_out(plan, g)) for g in groups],
        "tracking": dict(sorted(plan.tracking.items())),
        "upstream_env": upstream.url_env if upstream else None,
        "upstream_timeout": (
            float(upstream.timeout) if upstream and upstream.timeout is not None else None
        ),
    }
