"""Attack class: the proxy keeps nothing between requests and forwards nothing undeclared.

Issue 10, section 2. The shim forwards to a real internal API over TCP
(:mod:`tests.security.real_upstream`) and each test is one thing an attacker,
or a careless upstream, tried: a session cookie set for one caller riding on
another caller's request, caller headers reaching the internal API, compressed
answers (valid ones, and a decompression bomb), a body that names another
object than the path, and an answer about another object than the one asked
for (OWASP API1, broken object-level authorization).
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shimgen.runtime.service import upstream as upstream_module
from shimgen.runtime.service.settings import Settings
from shimgen.runtime.service.upstream import MAX_GZIP_MEMBERS, decode_body
from tests.security import real_upstream
from tests.security.real_upstream import (
    BOMB,
    BROTLI,
    CORRUPT,
    DEFLATE,
    EMPTY_GZIP,
    GZIP,
    MANY_MEMBERS,
    OTHER,
    PLAIN,
    RAW_DEFLATE,
    TWO_IDS,
    TWO_MEMBERS,
    WRONG_OBJECT,
    InternalAPI,
)
from tests.service_support import KEY_HELPDESK, KEY_PARTNER, RECORD, golden, headers, token
from tests.test_service_runtime import assert_problem

internal_api = real_upstream.internal_api  # the fixtures, used by name
shim = real_upstream.shim

Shim = tuple[TestClient, InternalAPI, Settings]

# What a GET may carry upstream; a PATCH adds its body's two headers. Nothing else, ever.
DECLARED_GET = {"host", "accept", "accept-encoding", "connection", "user-agent", "x-request-id"}
DECLARED_BODY = DECLARED_GET | {"content-type", "content-length"}


def audit(settings: Settings) -> list[dict[str, Any]]:
    path = Path(settings.audit_url.removeprefix("jsonl:///"))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def url(internal_id: str) -> str:
    return f"/customers/{token(internal_id)}"


# -- no state between requests --------------------------------------------------------


def test_upstream_cookie_is_not_sent_on_another_callers_request(shim: Shim) -> None:
    client, api, _ = shim
    first = client.get(url(PLAIN), headers=headers(key=KEY_HELPDESK, group="support"))
    assert first.status_code == 200
    second = client.get(url(OTHER), headers=headers(key=KEY_PARTNER, group="billing"))
    assert second.status_code == 200
    assert "cookie" not in api.header_names(1)
    assert "sess" not in json.dumps(api.seen[1]["headers"])


def test_upstream_cookie_is_not_sent_back_for_the_same_caller(shim: Shim) -> None:
    client, api, _ = shim
    for _ in range(3):
        assert client.get(url(PLAIN), headers=headers()).status_code == 200
    assert all("cookie" not in api.header_names(i) for i in range(3))


def test_upstream_set_cookie_never_reaches_the_caller(shim: Shim) -> None:
    client, _, _ = shim
    response = client.get(url(PLAIN), headers=headers())
    assert response.status_code == 200
    assert "set-cookie" not in response.headers


def test_shim_client_stores_no_cookie(shim: Shim) -> None:
    client, _, _ = shim
    assert client.get(url(PLAIN), headers=headers()).status_code == 200
    upstream = client.app.state.shim.upstream  # type: ignore[attr-defined]
    assert len(upstream.client.cookies.jar) == 0


# -- only declared headers go upstream --------------------------------------------------------

SMUGGLED = {
    "Cookie": "sess=stolen",
    "Proxy-Authorization": "Basic Y2FsbGVyOnRva2Vu",
    "X-Forwarded-For": "10.0.0.1",
    "Forwarded": "for=10.0.0.1",
    "X-Original-URL": "/internal/admin",
    "X-HTTP-Method-Override": "DELETE",
    "X-Internal-Caller": "admin",
}


def test_caller_headers_are_not_forwarded_on_get(shim: Shim) -> None:
    client, api, _ = shim
    response = client.get(url(PLAIN), headers=headers(**SMUGGLED))
    assert response.status_code == 200
    assert api.header_names() <= DECLARED_GET
    sent = json.dumps(api.seen[-1]["headers"])
    assert "stolen" not in sent and "Y2FsbGVy" not in sent and "admin" not in sent


def test_caller_headers_are_not_forwarded_on_patch(shim: Shim) -> None:
    client, api, _ = shim
    response = client.patch(url(PLAIN), json={"status": "suspended"}, headers=headers(**SMUGGLED))
    assert response.status_code == 200, response.text
    assert api.header_names() <= DECLARED_BODY
    assert "x-api-key" not in api.header_names() and "shim-group" not in api.header_names()


def test_shim_asks_only_for_encodings_it_decodes(shim: Shim) -> None:
    client, api, _ = shim
    assert client.get(url(PLAIN), headers=headers()).status_code == 200
    [accept] = [v for n, v in api.seen[-1]["headers"] if n == "accept-encoding"]
    assert {c.strip() for c in accept.split(",")} == {"gzip", "deflate"}


# -- compressed answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "internal_id", [GZIP, DEFLATE, RAW_DEFLATE], ids=["gzip", "deflate", "raw-deflate"]
)
def test_compressed_json_answer_is_decoded_and_translated(shim: Shim, internal_id: str) -> None:
    client, _, _ = shim
    response = client.get(url(internal_id), headers=headers())
    assert response.status_code == 200, response.text
    assert response.json() == golden.to_external({**RECORD, "id": internal_id}, "support")


def test_decompression_bomb_is_502(shim: Shim) -> None:
    client, _, settings = shim
    assert_problem(client.get(url(BOMB), headers=headers()), 502)
    [event] = audit(settings)
    assert (event["outcome"], event["upstream_status"]) == (502, 200)


def test_unknown_content_encoding_is_502(shim: Shim) -> None:
    client, _, _ = shim
    assert_problem(client.get(url(BROTLI), headers=headers()), 502)


def test_truncated_gzip_is_502(shim: Shim) -> None:
    client, _, _ = shim
    assert_problem(client.get(url(CORRUPT), headers=headers()), 502)


def test_gzip_of_many_members_is_502_and_audited(shim: Shim) -> None:
    client, _, settings = shim
    assert_problem(client.get(url(MANY_MEMBERS), headers=headers()), 502)
    [event] = audit(settings)
    assert (event["outcome"], event["upstream_status"]) == (502, 200)


def test_gzip_of_two_members_is_decoded(shim: Shim) -> None:
    client, _, _ = shim
    response = client.get(url(TWO_MEMBERS), headers=headers())
    assert response.status_code == 200, response.text
    assert response.json() == golden.to_external({**RECORD, "id": TWO_MEMBERS}, "support")


def test_gzip_that_decodes_to_nothing_is_502_not_204(shim: Shim) -> None:
    client, _, settings = shim
    assert_problem(client.get(url(EMPTY_GZIP), headers=headers()), 502)
    [event] = audit(settings)
    assert (event["outcome"], event["records"]) == (502, 0)


def test_gzip_member_count_is_bounded() -> None:
    empty = gzip.compress(b"", mtime=0)
    assert (
        decode_body(empty * (MAX_GZIP_MEMBERS - 1) + gzip.compress(b"{}"), "gzip", 1 << 20) == b"{}"
    )
    with pytest.raises(ValueError, match="upstream-too-many-members"):
        decode_body(empty * MAX_GZIP_MEMBERS + gzip.compress(b"{}"), "gzip", 1 << 20)


def test_gzip_decoding_is_linear_in_the_members(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the member bound, 100,000 empty members (2 MB) took 21 s (quadratic copying)."""
    monkeypatch.setattr(upstream_module, "MAX_GZIP_MEMBERS", 10**6)
    started = time.perf_counter()
    assert decode_body(gzip.compress(b"", mtime=0) * 100_000, "gzip", 16 * 2**20) == b""
    assert time.perf_counter() - started < 5.0  # linear: well under a second on a laptop


def test_slices_do_not_change_what_a_large_stream_decodes_to() -> None:
    body = json.dumps([{"n": i, "pad": "x" * (i % 97)} for i in range(5_000)]).encode()
    assert decode_body(gzip.compress(body) * 2, "gzip", 4 * len(body)) == body * 2
    assert decode_body(zlib.compress(body) + b"trailing", "deflate", len(body)) == body
    with pytest.raises(ValueError, match="upstream-too-large"):
        decode_body(gzip.compress(body), "gzip", len(body) - 1)
    with pytest.raises(ValueError, match="upstream-bad-encoding"):
        decode_body(gzip.compress(body)[:-100], "gzip", len(body))


# -- one object per request -----------------------------------------------------------------------


def test_body_naming_another_object_than_the_path_is_422(shim: Shim) -> None:
    client, api, settings = shim
    body = {"customerId": token(OTHER), "status": "suspended"}
    problem = assert_problem(client.patch(url(PLAIN), json=body, headers=headers()), 422)
    assert [e["pointer"] for e in problem["errors"]] == ["/customerId"]
    assert api.seen == []  # nothing reached the internal API
    [event] = audit(settings)
    assert (event["outcome"], event["upstream_status"]) == (422, None)


def test_body_naming_the_path_object_is_forwarded(shim: Shim) -> None:
    client, api, _ = shim
    body = {"customerId": token(PLAIN), "status": "suspended"}
    response = client.patch(url(PLAIN), json=body, headers=headers())
    assert response.status_code == 200, response.text
    assert api.seen[-1]["id"] == PLAIN
    assert api.seen[-1]["body"] == {"id": PLAIN, "status": "S"}


def test_answer_about_another_object_is_502_and_audited(shim: Shim) -> None:
    client, api, settings = shim
    response = client.get(url(WRONG_OBJECT), headers=headers())
    assert_problem(response, 502)
    assert token(OTHER) not in response.text and "Jana" not in response.text
    assert api.seen[-1]["id"] == WRONG_OBJECT  # the upstream was asked, and answered 200
    [event] = audit(settings)
    assert (event["direction"], event["outcome"], event["upstream_status"]) == ("proxy", 502, 200)
    assert event["records"] == 0  # nothing was translated for the caller


def test_answer_naming_a_member_twice_is_502_and_audited(shim: Shim) -> None:
    """I-JSON for answers too: with two "id" members the object check read one, the caller another."""
    client, api, settings = shim
    response = client.get(url(TWO_IDS), headers=headers())
    assert_problem(response, 502)
    assert token(OTHER) not in response.text and "Jana" not in response.text
    assert api.seen[-1]["id"] == TWO_IDS
    [event] = audit(settings)
    assert (event["outcome"], event["upstream_status"], event["records"]) == (502, 200, 0)


# -- only declared methods and paths are served -----------------------------------------------


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "DELETE"])
def test_undeclared_method_on_a_proxy_route_is_405_and_not_forwarded(
    shim: Shim, method: str
) -> None:
    client, api, _ = shim
    response = client.request(method, url(PLAIN), headers=headers())
    assert response.status_code == 405
    if method != "HEAD":  # a HEAD answer has no body to check
        assert_problem(response, 405)
    assert "HEAD" not in response.headers.get("allow", "")
    assert api.seen == []  # the internal API was not called (Starlette turned HEAD into GET)


def test_head_is_405_on_every_route_of_the_app(shim: Shim) -> None:
    client, _, _ = shim
    for route in client.app.routes:  # type: ignore[attr-defined]
        assert "HEAD" not in (route.methods or set()), route.path


@pytest.mark.parametrize("suffix", ["/", "//"])
def test_trailing_slash_is_404_not_a_redirect_to_the_callers_host(shim: Shim, suffix: str) -> None:
    client, api, _ = shim
    response = client.get(
        url(PLAIN) + suffix,
        headers={**headers(), "Host": "evil.example"},
        follow_redirects=False,
    )
    assert_problem(response, 404)
    assert "location" not in response.headers
    assert token(PLAIN) not in response.text
    assert api.seen == []
