"""`upstream:` and `routes:`: parsing, checks (SG119-SG127) and the resolved plan.

The per-code fixtures in ``tests/fixtures/bad/`` (run by ``test_checker.py``)
prove each code fires at its line; these tests cover the plan a clean mapping
resolves to, the endpoint syntax in detail, and edge cases of the rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shimgen.check import CheckResult, check_mapping
from shimgen.check.plan import Route, RouteParam
from shimgen.check.routes import RESERVED, RouteSyntaxError, parse_endpoint
from shimgen.diagnostics import Code

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "fixtures" / "bad"
BASE = BAD / "base.shim.yaml"
CUSTOMER = ROOT / "mappings" / "customer.shim.yaml"

BASE_ROUTES = """routes:
  - external: GET /people/{personId}
    internal: GET /people/{id}
    groups: [support, billing]
    query: [expand, fields]
  - external: PUT /people/{personId}/status
    internal: PUT /people/{id}/status
    groups: [billing]
"""


def with_routes(tmp_path: Path, routes: str, *subs: tuple[str, str]) -> CheckResult:
    """Check a copy of the base mapping with its routes replaced and ``subs`` applied."""
    text = BASE.read_text(encoding="utf-8")
    assert BASE_ROUTES in text
    text = text.replace(BASE_ROUTES, routes)
    for old, new in subs:
        assert old in text, old
        text = text.replace(old, new)
    text = text.replace("schemas/person.", f"{BAD / 'schemas'}/person.")
    path = tmp_path / "routes.shim.yaml"
    path.write_text(text, encoding="utf-8")
    return check_mapping(path)


def codes(result: CheckResult) -> list[Code]:
    return [f.code for f in result.findings]


def route(external: str, internal: str, groups: str = "[support]", extra: str = "") -> str:
    return f"  - external: {external}\n    internal: {internal}\n    groups: {groups}\n{extra}"


# -- the plan --------------------------------------------------------------------------


def test_customer_mapping_resolves_upstream_and_routes() -> None:
    result = check_mapping(CUSTOMER)
    assert result.findings == []
    plan = result.plan
    assert plan is not None
    assert plan.upstream is not None
    assert plan.upstream.url_env == "CUSTOMER_UPSTREAM_URL"
    assert plan.upstream.timeout == 5.0
    param = RouteParam("customerId", ("customerId",), ("id",), "id")
    get, patch = plan.routes
    assert get == Route(
        "GET",
        "/customers/{customerId}",
        "GET",
        "/internal/customers/{id}",
        ("support", "billing"),
        (param,),
        ("expand",),
    )
    assert not get.has_body
    assert (patch.method, patch.internal_method, patch.groups) == ("PATCH", "PATCH", ("support",))
    assert patch.params == (param,)
    assert patch.query == ()
    assert patch.has_body


def test_base_mapping_resolves_routes_in_order() -> None:
    plan = check_mapping(BASE).plan
    assert plan is not None and plan.upstream is not None
    assert plan.upstream.timeout == 2.5
    assert [(r.method, r.path) for r in plan.routes] == [
        ("GET", "/people/{personId}"),
        ("PUT", "/people/{personId}/status"),
    ]
    assert plan.routes[0].query == ("expand", "fields")


def test_no_routes_and_no_upstream_is_fine(tmp_path: Path) -> None:
    result = with_routes(
        tmp_path, "", ("upstream:\n  url_env: PERSON_API_URL\n  timeout: 2.5\n", "")
    )
    assert result.findings == []
    assert result.plan is not None
    assert result.plan.upstream is None and result.plan.routes == ()


def test_upstream_without_routes_is_kept(tmp_path: Path) -> None:
    result = with_routes(tmp_path, "", ("  timeout: 2.5\n", ""))
    assert result.findings == []
    assert result.plan is not None and result.plan.upstream is not None
    assert result.plan.upstream.timeout is None


def test_dotted_parameters_on_both_sides(tmp_path: Path) -> None:
    """A nested external field reverses into a nested internal one."""
    result = with_routes(
        tmp_path,
        "routes:\n"
        + route("GET /people/by-name/{firstName}", "GET /people/by-name/{name.given}")
        + route("GET /people/by-email/{contact.email}", "GET /people/by-email/{email}"),
        (
            "  name.given: {to: firstName, why: partner apps greet the person by name}\n",
            "  name.given: {to: firstName, why: partner apps greet the person by name, inbound: true}\n",
        ),
        ("    treat: mask_email\n    groups: {support: pass}\n", "    inbound: true\n"),
    )
    assert result.findings == [], [f.format() for f in result.findings]
    assert result.plan is not None
    by_name, by_email = result.plan.routes
    assert by_name.params == (
        RouteParam("firstName", ("firstName",), ("name", "given"), "name.given"),
    )
    assert by_email.params == (
        RouteParam("contact.email", ("contact", "email"), ("email",), "email"),
    )


def test_two_parameters_pair_by_field_not_by_position(tmp_path: Path) -> None:
    result = with_routes(
        tmp_path,
        "routes:\n" + route("GET /people/{personId}/status/{status}", "GET /s/{status}/p/{id}"),
    )
    assert result.findings == []
    assert result.plan is not None
    [r] = result.plan.routes
    assert [(p.name, p.internal_name) for p in r.params] == [
        ("personId", "id"),
        ("status", "status"),
    ]


def test_route_without_parameters(tmp_path: Path) -> None:
    result = with_routes(tmp_path, "routes:\n" + route("GET /people", "GET /internal/people"))
    assert result.findings == []
    assert result.plan is not None and result.plan.routes[0].params == ()


def test_same_path_with_another_method_is_not_a_duplicate(tmp_path: Path) -> None:
    routes = "routes:\n" + "".join(
        route(f"{m} /people/{{personId}}", f"{m} /people/{{id}}") for m in ("GET", "PUT", "DELETE")
    )
    assert with_routes(tmp_path, routes).findings == []


# -- endpoint syntax -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "method", "path", "params"),
    [
        ("GET /customers/{customerId}", "GET", "/customers/{customerId}", ("customerId",)),
        ("DELETE /", "DELETE", "/", ()),
        ("PATCH /a/{x}/b/{y.z}", "PATCH", "/a/{x}/b/{y.z}", ("x", "y.z")),
        ("  POST   /v2/orders:search ", "POST", "/v2/orders:search", ()),
        ("PUT /a-b/c_d/e.f/~g", "PUT", "/a-b/c_d/e.f/~g", ()),
    ],
)
def test_parse_endpoint_accepts(text: str, method: str, path: str, params: tuple[str, ...]) -> None:
    ep = parse_endpoint(text)
    assert (ep.method, ep.path, ep.params) == (method, path, params)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/customers", "is not `METHOD /path`"),
        ("GET /a /b", "is not `METHOD /path`"),
        ("get /customers", "not an allowed method"),
        ("HEAD /customers", "not an allowed method"),
        ("GET customers", "does not start with `/`"),
        ("GET /customers?x=1", "query or fragment"),
        ("GET /customers#top", "query or fragment"),
        ("GET /customers/", "empty segment"),
        ("GET //customers", "empty segment"),
        ("GET /customers/{}", "not a parameter name"),
        ("GET /customers/{cards[].number}", "not a parameter name"),
        ("GET /customers/{1id}", "not a parameter name"),
        ("GET /customers/{a..b}", "not a parameter name"),
        ("GET /c/{id}/d/{id}", "appears twice"),
        ("GET /customers/id-{id}", "mixes text and a parameter"),
        ("GET /customers/{id}x", "mixes text and a parameter"),
        ("GET /cust%20omers", "cannot hold unescaped"),
        ("GET /cust\u00f6mers", "cannot hold unescaped"),
    ],
)
def test_parse_endpoint_rejects(text: str, fragment: str) -> None:
    with pytest.raises(RouteSyntaxError) as exc:
        parse_endpoint(text)
    assert fragment in exc.value.message
    assert exc.value.hint


def test_shape_ignores_parameter_names() -> None:
    assert (
        parse_endpoint("GET /a/{x}/b").shape == parse_endpoint("GET /a/{y.z}/b").shape == "/a/{}/b"
    )


# -- rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "inn", "ok"),
    [
        ("GET", "GET", True),
        ("DELETE", "DELETE", True),
        ("DELETE", "GET", True),
        ("POST", "PUT", True),
        ("PATCH", "POST", True),
        ("GET", "POST", False),
        ("GET", "DELETE", False),
        ("PATCH", "DELETE", False),
        ("DELETE", "PUT", False),
    ],
)
def test_method_pairs(tmp_path: Path, ext: str, inn: str, ok: bool) -> None:
    result = with_routes(tmp_path, "routes:\n" + route(f"{ext} /people", f"{inn} /people"))
    assert codes(result) == ([] if ok else [Code.BAD_ROUTE])


@pytest.mark.parametrize("path", sorted(RESERVED))
def test_reserved_paths(tmp_path: Path, path: str) -> None:
    result = with_routes(tmp_path, "routes:\n" + route(f"POST {path}", "POST /x"))
    assert codes(result) == [Code.DUPLICATE_ROUTE]


def test_duplicate_up_to_parameter_names_points_at_the_first(tmp_path: Path) -> None:
    result = with_routes(
        tmp_path,
        "routes:\n"
        + route("GET /people/{personId}", "GET /people/{id}")
        + route("GET /people/{status}", "GET /people-by-status/{status}"),
    )
    [f] = result.findings
    assert f.code is Code.DUPLICATE_ROUTE
    assert f"line {f.line - 3}" in f.message


def test_array_field_cannot_be_a_parameter(tmp_path: Path) -> None:
    result = with_routes(
        tmp_path,
        "routes:\n" + route("GET /people/by-tag/{tags}", "GET /people/by-tag/{tags}"),
        ("  tags: {to: tags}\n", "  tags: {to: tags, inbound: true}\n"),
    )
    [f] = result.findings
    assert f.code is Code.ROUTE_PARAM_FIELD
    assert "one value" in f.message


def test_a_dropped_field_is_not_a_parameter(tmp_path: Path) -> None:
    result = with_routes(tmp_path, "routes:\n" + route("GET /people/{ssn}", "GET /people/{ssn}"))
    assert codes(result) == [Code.ROUTE_PARAM_FIELD]
    assert "personId, status" in result.findings[0].hint


def test_reversibility_is_checked_only_for_the_route_groups(tmp_path: Path) -> None:
    hashed = (
        "  id: {to: personId, treat: tokenize, inbound: true}\n",
        "  id: {to: personId, treat: tokenize, inbound: true, groups: {billing: hash}}\n",
    )
    support = "routes:\n" + route("GET /people/{personId}", "GET /people/{id}")
    assert with_routes(tmp_path, support, hashed).findings == []
    both = "routes:\n" + route("GET /people/{personId}", "GET /people/{id}", "[support, billing]")
    result = with_routes(tmp_path, both, hashed)
    [f] = result.findings
    assert f.code is Code.ROUTE_PARAM_IRREVERSIBLE
    assert "`billing` (gets `hash`)" in f.message and "support" not in f.message


def test_a_group_that_drops_the_field_cannot_use_it(tmp_path: Path) -> None:
    result = with_routes(
        tmp_path,
        "routes:\n" + route("GET /p/{contact.email}", "GET /p/{email}", "[support, billing]"),
        (
            "    treat: mask_email\n    groups: {support: pass}\n",
            "    inbound: true\n    groups: {billing: drop}\n",
        ),
    )
    [f] = result.findings
    assert f.code is Code.ROUTE_PARAM_IRREVERSIBLE
    assert "`billing` (gets `drop`)" in f.message


def test_unresolved_parameter_does_not_add_pairing_noise(tmp_path: Path) -> None:
    result = with_routes(
        tmp_path, "routes:\n" + route("GET /people/{nope}", "GET /people/{id}/{status}")
    )
    assert codes(result) == [Code.ROUTE_PARAM_FIELD]


def test_internal_parameter_with_no_inbound_rule(tmp_path: Path) -> None:
    result = with_routes(tmp_path, "routes:\n" + route("GET /people", "GET /people/{ssn}"))
    [f] = result.findings
    assert f.code is Code.ROUTE_PARAM_UNBOUND
    assert "internal path of an inbound field" in f.hint


def test_undeclared_group_reuses_sg110(tmp_path: Path) -> None:
    result = with_routes(tmp_path, "routes:\n" + route("GET /people", "GET /people", "[fraud]"))
    assert codes(result) == [Code.UNDECLARED_GROUP]


def test_group_name_shape_is_a_format_error(tmp_path: Path) -> None:
    result = with_routes(tmp_path, "routes:\n" + route("GET /people", "GET /people", "[Support]"))
    assert codes(result) == [Code.BAD_STRUCTURE]


@pytest.mark.parametrize(
    ("query", "ok"),
    [
        ("[expand]", True),
        ("[page.size, sort-by, _x, A1]", True),
        ("[]", True),
        ("['1st']", False),
        ("['a b']", False),
        ("['x&y']", False),
        ("['expand\\n']", False),
        ("[a, b, a]", False),
    ],
)
def test_query_names(tmp_path: Path, query: str, ok: bool) -> None:
    text = route("GET /people", "GET /people", extra=f"    query: {query}\n")
    result = with_routes(tmp_path, "routes:\n" + text)
    assert codes(result) == ([] if ok else [Code.BAD_QUERY])


@pytest.mark.parametrize(
    ("upstream", "code"),
    [
        ("{url_env: PERSON_API_URL, timeout: 1}", None),
        ("{url_env: _X2}", None),
        ("{url_env: PERSON_API_URL, timeout: 0.25}", None),
        ("{url_env: 2PERSON}", Code.BAD_UPSTREAM),
        ("{url_env: 'PERSON_API_URL\\n'}", Code.BAD_UPSTREAM),
        ("{url_env: SHIM_AUDIT_URL}", Code.BAD_UPSTREAM),
        ("{url_env: PERSON_API_URL, timeout: -1}", Code.BAD_UPSTREAM),
        ("{url_env: PERSON_API_URL, timeout: .inf}", Code.BAD_UPSTREAM),
        ("{url_env: PERSON_API_URL, timeout: .nan}", Code.BAD_UPSTREAM),
        ("{url_env: PERSON_API_URL, timeout: '5'}", Code.BAD_STRUCTURE),
        ("{url_env: PERSON_API_URL, timeout: true}", Code.BAD_STRUCTURE),
        ("{url: http://payments.internal}", Code.BAD_STRUCTURE),
    ],
)
def test_upstream_values(tmp_path: Path, upstream: str, code: Code | None) -> None:
    result = with_routes(
        tmp_path,
        "routes:\n" + route("GET /people", "GET /people"),
        ("upstream:\n  url_env: PERSON_API_URL\n  timeout: 2.5\n", f"upstream: {upstream}\n"),
    )
    assert set(codes(result)) == (set() if code is None else {code})


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("  - {external: GET /people, internal: GET /people}\n", "routes.0.groups"),
        ("  - {external: GET /people, groups: [support]}\n", "routes.0.internal"),
        ("  - {external: GET /people, internal: GET /people, groups: [support], why: x}\n", "why"),
        ("  - GET /people\n", "routes.0"),
    ],
)
def test_route_shape_errors(tmp_path: Path, entry: str, fragment: str) -> None:
    result = with_routes(tmp_path, "routes:\n" + entry)
    [f] = result.findings
    assert f.code is Code.BAD_STRUCTURE
    assert fragment in f.message
    assert any(
        h in f.hint
        for h in ("add `", "route is {external:", "the keys here are external, internal")
    )


def test_every_route_defect_is_reported_in_one_run(tmp_path: Path) -> None:
    routes = (
        "routes:\n"
        + route("FETCH /people", "GET /people")
        + route("GET /people/{personId}", "GET /people/{id}", "[]")
        + route("GET /people/{personId}", "GET /other/{id}")
        + route("GET /people/{contact.email}/x", "GET /x/{email}")
        + route("GET /z", "GET /z/{id}", extra="    query: [a, a]\n")
    )
    result = with_routes(
        tmp_path, routes, ("upstream:\n  url_env: PERSON_API_URL\n  timeout: 2.5\n", "")
    )
    assert sorted(codes(result)) == sorted(
        [
            Code.NO_UPSTREAM,
            Code.BAD_ROUTE,
            Code.ROUTE_GROUPS,
            Code.DUPLICATE_ROUTE,
            Code.ROUTE_PARAM_FIELD,
            Code.ROUTE_PARAM_UNBOUND,
            Code.BAD_QUERY,
        ]
    )
    assert result.plan is None
    assert result.exit_code == 1


def test_checks_doc_lists_every_code() -> None:
    text = (ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    missing = [c.value for c in Code if f"| {c.value} |" not in text]
    assert not missing, f"docs/checks.md lacks {missing}"


def test_routes_doc_names_every_route_code() -> None:
    text = (ROOT / "docs" / "routes.md").read_text(encoding="utf-8")
    route_codes = [c for c in Code if "SG119" <= c.value <= "SG127"]
    assert len(route_codes) == 9
    assert all(c.value in text for c in route_codes)
