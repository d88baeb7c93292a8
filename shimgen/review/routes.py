"""The proxy routes as the review shows them: which external path reaches which internal one.

Kept apart from :mod:`shimgen.review.model` (the rest of the report) because it reads
only the plan's routes and upstream, and the report model is long enough.
"""

from __future__ import annotations

from dataclasses import dataclass

from shimgen.check.plan import ShimPlan

__all__ = ["RouteRow", "route_rows", "upstream_text"]


@dataclass(frozen=True)
class RouteRow:
    external: str  # ``GET /customers/{customerId}``
    internal: str
    groups: tuple[str, ...]
    params: tuple[str, ...]  # ``customerId -> id (tokenize reversed)``
    query: tuple[str, ...]
    has_body: bool


def route_rows(plan: ShimPlan) -> list[RouteRow]:
    by_external = {r.external: r for r in plan.rules}
    out = []
    for route in plan.routes:
        params = []
        for p in route.params:
            rule = by_external.get(p.external)
            how = f" ({rule.treat} reversed)" if rule is not None else ""
            params.append(f"{p.name} → {p.internal_name}{how}")
        out.append(
            RouteRow(
                f"{route.method} {route.path}",
                f"{route.internal_method} {route.internal_path}",
                route.groups,
                tuple(params),
                route.query,
                route.has_body,
            )
        )
    return out


def upstream_text(plan: ShimPlan) -> str:
    if plan.upstream is None:
        return ""
    text = f"base URL from the environment variable {plan.upstream.url_env}"
    if plan.upstream.timeout is not None:
        text += f", timeout {plan.upstream.timeout:g} s"
    return text
