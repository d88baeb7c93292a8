"""Attack class: probes that are refused but never counted (red-team, ninth pass).

Heuristic tracking counts refusals (401, 403, 422, and a 404 of the grant
endpoints) as probing. Two refusals of a proxy route were left out, although
each is only ever earned by an attack: a path parameter that does not reverse
(a forged or altered token, a token of another field or shim, ``..``), which
is a 404 so that it names nothing, and a body that names a member twice (the
parser-differential trick), which is a 400. A partner could send either at its
full rate limit, for ever, and tracking saw ordinary traffic: no incident, no
flag, no deny, in warm-up (a new credential's first week, when enumeration is
silent) or after. Now both count as the refusals they are; what the caller is
answered, and what the audit record says, do not change.

The shim forwards to a real internal API over TCP (:mod:`tests.security.real_upstream`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from shimgen.runtime.service.settings import Settings
from tests.security import real_upstream
from tests.security.real_upstream import MISSING, PLAIN, InternalAPI
from tests.service_support import KEY_PORTAL, KEY_SLOW, headers, token

internal_api = real_upstream.internal_api  # the fixtures, used by name
shim = real_upstream.shim

Shim = tuple[TestClient, InternalAPI, Settings]
PORTAL = "external:portal"  # the partner's tracking subject (side and name)


def partner() -> dict[str, str]:
    return headers(key=KEY_PORTAL, group="support")


def incidents(client: TestClient) -> list[tuple[str, str]]:
    tracker = client.app.state.shim.tracker  # type: ignore[attr-defined]
    return [(i.caller, i.kind) for i in tracker.open_incidents()]


def audit(settings: Settings) -> list[dict[str, Any]]:
    path = Path(settings.audit_url.removeprefix("jsonl:///"))
    lines = path.read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r.get("direction") == "proxy"]


def forged(i: int) -> str:
    """A token of the route's field with its last characters altered: it names nothing."""
    good = token(PLAIN)
    return good[:-4] + f"{i:04d}"


def test_forged_tokens_in_a_proxy_path_are_probing(shim: Shim) -> None:
    client, api, settings = shim
    for i in range(12):
        answer = client.get(f"/customers/{forged(i)}", headers=partner())
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == "the path does not name a resource this caller can reach"
    assert (PORTAL, "probing") in incidents(client)
    assert api.seen == []
    assert {r["outcome"] for r in audit(settings)} == {404}  # the record still says 404


def test_path_values_that_name_nothing_are_probing(shim: Shim) -> None:
    client, api, _ = shim
    other_field = token(PLAIN).replace("t1.", "t1.x", 1)  # no such key id
    for value in ["%2E%2E", "%2e", "not-a-token", other_field] * 3:  # dots encoded: sent
        assert client.get(f"/customers/{value}", headers=partner()).status_code == 404
    assert (PORTAL, "probing") in incidents(client)
    assert api.seen == []


def test_member_names_sent_twice_to_a_proxy_route_are_probing(shim: Shim) -> None:
    client, api, settings = shim
    body = f'{{"customerId": "{token(PLAIN)}", "customerId": "{forged(1)}"}}'
    for _ in range(12):
        answer = client.patch(f"/customers/{token(PLAIN)}", content=body, headers=partner())
        assert answer.status_code == 400, answer.text
        assert answer.json()["type"].endswith("/duplicate-key")
    assert (PORTAL, "probing") in incidents(client)
    assert api.seen == []
    assert {r["outcome"] for r in audit(settings)} == {400}


def test_a_record_the_internal_api_does_not_have_is_not_probing(shim: Shim) -> None:
    # Pins what must hold: a good token for a record that is gone is an ordinary 404.
    client, api, _ = shim
    for _ in range(12):
        assert client.get(f"/customers/{token(MISSING)}", headers=partner()).status_code == 404
    assert incidents(client) == []
    assert len(api.seen) == 12


def test_malformed_json_is_not_probing(shim: Shim) -> None:
    # A client's bug, not an attack: only the refusals an attack alone earns count.
    client, _, _ = shim
    for _ in range(12):
        answer = client.patch(f"/customers/{token(PLAIN)}", content=b"{", headers=partner())
        assert answer.status_code == 400
    assert incidents(client) == []


# -- paths and methods no route serves ----------------------------------------------------


def test_scanning_undeclared_paths_and_methods_is_seen(shim: Shim) -> None:
    """A partner walks the surface with its key: internal paths, sub-resources, other
    versions, and every method on a real route. Starlette answered 404 or 405 before
    anything authenticated, so none of it had a caller: no audit record, no tracking, no
    rate limit, an access line without a name. Now a request with valid credentials that
    no route serves is charged, audited (route ``unmatched``, nothing crossed) and probing."""
    client, api, settings = shim
    good = token(PLAIN)
    scan = [
        ("GET", f"/internal/customers/{PLAIN}"), ("GET", f"/customers/{good}/cards"),
        ("GET", "/v2/customers"), ("GET", "/admin"), ("PUT", f"/customers/{good}"),
        ("DELETE", f"/customers/{good}"), ("OPTIONS", f"/customers/{good}"),
        ("HEAD", f"/customers/{good}"),
    ]  # fmt: skip
    answers = [client.request(m, p, headers=partner()).status_code for m, p in scan * 2]
    assert answers == [404, 404, 404, 404, 405, 405, 405, 405] * 2
    assert api.seen == []
    path = Path(settings.audit_url.removeprefix("jsonl:///"))
    records = [r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())
               if "event" not in r]  # fmt: skip
    assert [(r["caller"], r["route"], r["records"], r["outcome"]) for r in records] == [
        ("key:portal", "unmatched", 0, status) for status in answers
    ]
    assert (PORTAL, "probing") in incidents(client)


def test_unrouted_requests_spend_the_callers_rate_limit(shim: Shim) -> None:
    client, _, _ = shim
    slow = headers(key=KEY_SLOW, group="support")  # 2 at once, then one per 100 s
    answers = [client.get("/admin", headers=slow).status_code for _ in range(3)]
    assert answers == [404, 404, 429]


def test_an_unrouted_request_without_valid_credentials_is_still_no_record(shim: Shim) -> None:
    client, _, settings = shim
    for sent in ({}, {"X-API-Key": "not-a-key-" + "x" * 30}):
        assert client.get("/admin", headers=sent).status_code == 404
    path = Path(settings.audit_url.removeprefix("jsonl:///"))
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    assert [r for r in map(json.loads, lines) if "event" not in r] == []


def test_guessing_keys_on_a_path_no_route_serves_is_throttled(shim: Shim) -> None:
    """Authenticating unrouted requests must not open a place to try keys unthrottled:
    bad credentials there count toward the address's failed authentications (20 at
    once, then 429), as on every route. The answers before that stay 404."""
    client, _, _ = shim
    bad = {"X-API-Key": "guess-" + "g" * 40}
    answers = [client.get("/admin", headers=bad).status_code for _ in range(23)]
    assert answers[:20] == [404] * 20
    assert set(answers[20:]) == {429}
