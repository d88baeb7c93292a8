"""Check ``upstream:`` and ``routes:`` (proxy routes) and resolve them for the plan.

A proxy route lets a caller reach the internal API through the shim. Every
path parameter the caller sends is an external field the shim reverses
(detokenizes, unmaps) into the internal field the internal path needs, so a
parameter is only allowed where the mapping already lets that field travel
inbound, reversibly, for every group that may call the route. Problems are
reported, one finding per defect, and a route with any finding is left out
of the plan. The routes are checked against the resolved rules before the
plan is built, and the plan is built with the routes that are sound.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shimgen.check.plan import Derived, Route, RouteParam, Rule, Upstream
from shimgen.check.report import Report
from shimgen.diagnostics import Code
from shimgen.mapping.model import ENV_NAME, QUERY_NAME, Mapping, RouteRule
from shimgen.schema.model import SCALARS, format_path, parse_path

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
RESERVED = frozenset(
    {"/v1/outbound", "/v1/inbound", "/healthz", "/readyz", "/metrics", "/openapi.json"}
)
"""Paths the service itself answers; a route there would shadow or be shadowed."""

PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
LITERAL = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+\Z")  # RFC 3986 pchar, no %-escapes
ENV = re.compile(ENV_NAME)

Where = tuple[str | int, ...]


class RouteSyntaxError(ValueError):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Endpoint:
    """One side of a route as written: ``GET /customers/{customerId}``."""

    method: str
    path: str
    params: tuple[str, ...]  # in path order

    @property
    def shape(self) -> str:
        """The path with parameter names blanked: two routes of one shape match the same URLs."""
        return re.sub(r"\{[^}]*\}", "{}", self.path)


def parse_endpoint(text: str) -> Endpoint:
    """``METHOD /path`` -> :class:`Endpoint`; raises :class:`RouteSyntaxError`."""
    parts = text.split()
    if len(parts) != 2:
        raise RouteSyntaxError(
            f"`{text}` is not `METHOD /path`", "write e.g. `GET /customers/{customerId}`"
        )
    method, path = parts
    if method not in METHODS:
        raise RouteSyntaxError(
            f"`{method}` is not an allowed method", f"use one of {', '.join(METHODS)} (upper case)"
        )
    if not path.startswith("/"):
        raise RouteSyntaxError(f"path `{path}` does not start with `/`", f"write `/{path}`")
    if "?" in path or "#" in path:
        raise RouteSyntaxError(
            f"path `{path}` has a query or fragment",
            "list forwarded query parameters under `query:` instead",
        )
    params: list[str] = []
    segments = path[1:].split("/") if path != "/" else []
    for seg in segments:
        if not seg:
            raise RouteSyntaxError(
                f"path `{path}` has an empty segment", "remove the doubled or trailing `/`"
            )
        if seg.startswith("{") and seg.endswith("}"):
            name = seg[1:-1]
            if not PARAM_NAME.match(name):
                raise RouteSyntaxError(
                    f"`{seg}` is not a parameter name",
                    "a parameter names a field: `{customerId}` or `{contact.email}`",
                )
            if name in params:
                raise RouteSyntaxError(
                    f"parameter `{seg}` appears twice in `{path}`", "use each parameter once"
                )
            params.append(name)
        elif "{" in seg or "}" in seg:
            raise RouteSyntaxError(
                f"segment `{seg}` mixes text and a parameter",
                "a parameter fills a whole segment: `/customers/{customerId}`",
            )
        elif not LITERAL.match(seg):
            raise RouteSyntaxError(
                f"segment `{seg}` has characters a URL path cannot hold unescaped",
                "use letters, digits and - . _ ~ in fixed path segments",
            )
    return Endpoint(method, path, tuple(params))


class RouteChecker:
    """Checks one mapping's upstream and routes against its resolved rules and derived fields."""

    def __init__(
        self,
        report: Report,
        mapping: Mapping,
        rules: Sequence[Rule],
        derived: Sequence[Derived],
    ) -> None:
        self.report = report
        self.m = mapping
        self.rules = rules
        self.derived = derived

    def error(self, code: Code, message: str, where: Where, hint: str) -> None:
        self.report.error(code, message, where, hint, value=True)

    def run(self) -> tuple[Upstream | None, tuple[Route, ...]]:
        """Check everything; the upstream (None if unsound or absent) and the sound routes."""
        upstream = self.upstream()
        if self.m.routes and self.m.upstream is None:
            self.report.error(
                Code.NO_UPSTREAM,
                "`routes:` without `upstream:`: there is no internal API to forward to",
                ("routes",),
                "add `upstream: {url_env: NAME_OF_ENV_VAR_WITH_BASE_URL}`",
            )
        seen: dict[tuple[str, str], int] = {}
        routes = (self.route(i, spec, seen) for i, spec in enumerate(self.m.routes))
        return upstream, tuple(route for route in routes if route is not None)

    # -- upstream ------------------------------------------------------------------

    def upstream(self) -> Upstream | None:
        up = self.m.upstream
        if up is None:
            return None
        ok = True
        if not ENV.fullmatch(up.url_env):
            ok = False
            self.error(
                Code.BAD_UPSTREAM,
                f"`{up.url_env}` is not an environment variable name",
                ("upstream", "url_env"),
                "use upper-case letters, digits and `_`: `CUSTOMER_UPSTREAM_URL`",
            )
        elif up.url_env.startswith("SHIM_"):
            ok = False
            self.error(
                Code.BAD_UPSTREAM,
                f"`{up.url_env}` is in the `SHIM_` namespace the shim's own settings use",
                ("upstream", "url_env"),
                "name it after the internal API: `CUSTOMER_UPSTREAM_URL`",
            )
        if up.timeout is not None and not (math.isfinite(up.timeout) and up.timeout > 0):
            ok = False
            self.error(
                Code.BAD_UPSTREAM,
                "`timeout` must be a number of seconds greater than 0",
                ("upstream", "timeout"),
                "write e.g. `timeout: 5`, or omit it for the service default",
            )
        return Upstream(up.url_env, up.timeout) if ok else None

    # -- one route -----------------------------------------------------------------

    def route(self, i: int, spec: RouteRule, seen: dict[tuple[str, str], int]) -> Route | None:
        where: Where = ("routes", i)
        before = len(self.report)
        ext = self.endpoint(spec.external, (*where, "external"))
        inn = self.endpoint(spec.internal, (*where, "internal"))
        if ext is not None:
            self.duplicate(ext, i, seen)
        if ext is not None and inn is not None:
            self.methods(ext, inn, where)
        groups = self.groups(spec, where)
        self.query(spec, where)
        params = self.params(ext, inn, groups, where) if ext and inn else None
        if len(self.report) != before or ext is None or inn is None or params is None:
            return None
        return Route(
            ext.method,
            ext.path,
            inn.method,
            inn.path,
            tuple(groups),
            params,
            tuple(spec.query),
        )

    def endpoint(self, text: str, where: Where) -> Endpoint | None:
        try:
            return parse_endpoint(text)
        except RouteSyntaxError as exc:
            self.error(Code.BAD_ROUTE, exc.message, where, exc.hint)
            return None

    def duplicate(self, ext: Endpoint, i: int, seen: dict[tuple[str, str], int]) -> None:
        where: Where = ("routes", i, "external")
        if ext.path in RESERVED:
            self.error(
                Code.DUPLICATE_ROUTE,
                f"`{ext.path}` is a path the shim service answers itself",
                where,
                f"pick another path; reserved: {', '.join(sorted(RESERVED))}",
            )
            return
        key = (ext.method, ext.shape)
        if key in seen:
            first = self.report.loaded.at(("routes", seen[key], "external"), value=True)
            self.error(
                Code.DUPLICATE_ROUTE,
                f"`{ext.method} {ext.path}` matches the same requests as the route at line "
                f"{first.line}",
                where,
                "merge the two routes, or give one a different path",
            )
        else:
            seen[key] = i

    def methods(self, ext: Endpoint, inn: Endpoint, where: Where) -> None:
        """A read stays a read, and a translated body is never thrown away."""
        if ext.method == "GET" and inn.method != "GET":
            self.error(
                Code.BAD_ROUTE,
                f"external `GET` forwards to `{inn.method}`: a read would change data upstream",
                (*where, "internal"),
                "forward GET to GET, or expose the change with the same method",
            )
        elif (ext.method in BODY_METHODS) != (inn.method in BODY_METHODS):
            has, lacks = (ext, inn) if ext.method in BODY_METHODS else (inn, ext)
            self.error(
                Code.BAD_ROUTE,
                f"`{has.method}` carries a body but `{lacks.method}` does not",
                (*where, "internal"),
                "pair POST, PUT, PATCH with one of them; GET and DELETE with GET or DELETE",
            )

    def groups(self, spec: RouteRule, where: Where) -> list[str]:
        if not spec.groups:
            self.error(
                Code.ROUTE_GROUPS,
                "route has no groups: nobody could call it",
                (*where, "groups"),
                f"list the groups that need it: {', '.join(self.m.groups) or 'declare one first'}",
            )
        out: list[str] = []
        for j, group in enumerate(spec.groups):
            at: Where = (*where, "groups", j)
            if group in out:
                self.error(
                    Code.ROUTE_GROUPS, f"group `{group}` is listed twice", at, "list it once"
                )
            elif group not in self.m.groups:
                self.error(
                    Code.UNDECLARED_GROUP,
                    f"group `{group}` is not declared",
                    at,
                    "add it under `groups:` with a description, or use one of: "
                    + (", ".join(self.m.groups) or "none declared"),
                )
            else:
                out.append(group)
        return out

    def query(self, spec: RouteRule, where: Where) -> None:
        for j, name in enumerate(spec.query):
            at: Where = (*where, "query", j)
            if not re.fullmatch(QUERY_NAME, name):
                self.error(
                    Code.BAD_QUERY,
                    f"`{name}` is not a query parameter name",
                    at,
                    "use letters, digits, `_`, `.` and `-`, starting with a letter or `_`: `expand`",
                )
            elif name in spec.query[:j]:
                self.error(Code.BAD_QUERY, f"query `{name}` is listed twice", at, "list it once")

    # -- path parameters -------------------------------------------------------------

    def params(
        self, ext: Endpoint, inn: Endpoint, groups: list[str], where: Where
    ) -> tuple[RouteParam, ...] | None:
        """Pair each external parameter with the internal one its rule reverses into."""
        at_ext: Where = (*where, "external")
        at_int: Where = (*where, "internal")
        found: list[RouteParam] = []
        for name in ext.params:
            rule = self.param_rule(name, groups, at_ext)
            if rule is not None:
                found.append(
                    RouteParam(name, rule.external, rule.internal, format_path(rule.internal))
                )
        if len(found) != len(ext.params):
            return None  # unresolved names would make every pairing below noise
        ok = True
        for p in found:
            if p.internal_name not in inn.params:
                ok = False
                self.error(
                    Code.ROUTE_PARAM_UNBOUND,
                    f"`{{{p.name}}}` stands for internal field `{p.internal_name}`, "
                    f"but the internal path has no `{{{p.internal_name}}}`",
                    at_int,
                    f"add `{{{p.internal_name}}}` to the internal path, or drop `{{{p.name}}}`",
                )
        bound = {p.internal_name for p in found}
        for name in inn.params:
            if name not in bound:
                ok = False
                self.error(
                    Code.ROUTE_PARAM_UNBOUND,
                    f"`{{{name}}}` in the internal path is filled by no external parameter",
                    at_int,
                    self.unbound_hint(name),
                )
        return tuple(found) if ok else None

    def param_rule(self, name: str, groups: list[str], where: Where) -> Rule | None:
        path = parse_path(name)
        rules = [r for r in self.rules if r.out_node is not None and r.external == path]
        if not rules:
            derived = any(d.external == path for d in self.derived)
            self.error(
                Code.ROUTE_PARAM_FIELD,
                f"`{{{name}}}` is "
                + (
                    "a derived field, which cannot be sent back"
                    if derived
                    else "not an external field any rule writes"
                ),
                where,
                self.inbound_hint(),
            )
            return None
        rule = rules[0]
        if not rule.inbound:
            self.error(
                Code.ROUTE_PARAM_FIELD,
                f"`{{{name}}}` comes from `{rule.key}`, which is not `inbound: true`",
                where,
                f"add `inbound: true` to `{rule.key}` (pass, tokenize or a one-to-one map), "
                "or use another field",
            )
            return None
        if rule.in_node.kind not in SCALARS:
            self.error(
                Code.ROUTE_PARAM_FIELD,
                f"`{{{name}}}` is {rule.in_node.describe()}; a path parameter carries one value",
                where,
                "use a scalar field as the parameter",
            )
            return None
        bad = [g for g in groups if not rule.treatment(g).reversible]
        if bad:
            names = ", ".join(f"`{g}` (gets `{rule.treatment(g).name}`)" for g in bad)
            self.error(
                Code.ROUTE_PARAM_IRREVERSIBLE,
                f"`{{{name}}}` cannot be reversed into `{rule.key}` for group {names}",
                where,
                f"give those groups pass, tokenize or a one-to-one map for `{rule.key}`, "
                "or take them off this route",
            )
            return None
        return rule

    def inbound_hint(self) -> str:
        names = [
            format_path(r.external)
            for r in self.rules
            if r.inbound and r.out_node is not None and r.in_node.kind in SCALARS
        ]
        if not names:
            return "mark the field's rule `inbound: true`; no field is inbound yet"
        return "a path parameter names an inbound external field: " + ", ".join(names)

    def unbound_hint(self, name: str) -> str:
        for r in self.rules:
            if format_path(r.internal) == name and r.inbound and r.out_node is not None:
                return f"add `{{{format_path(r.external)}}}` to the external path"
        return "internal parameters are filled from external ones: use the internal path of an inbound field"


def check_routes(
    report: Report, mapping: Mapping, rules: Sequence[Rule], derived: Sequence[Derived]
) -> tuple[Upstream | None, tuple[Route, ...]]:
    """The sound upstream and routes of ``mapping``; every defect goes to ``report``."""
    return RouteChecker(report, mapping, rules, derived).run()
