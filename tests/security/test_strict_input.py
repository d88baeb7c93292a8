"""Attack class: ambiguous input and borrowed identities.

A JSON object naming a member twice means different things to different parsers
(I-JSON, RFC 7493), so it is refused; guessing credentials costs the guesser a
429 after a few tries; a caller's audit name and rate bucket say how it
authenticated, so a JWT subject cannot pass for an API-key caller; a string
``groups`` claim is read only when the callers file says the identity provider
sends one; the request id in the audit trail is always the shim's own. See
docs/threat-model.md, "Strict input, one identity per caller".
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from shimgen.runtime.core.errors import Problem
from shimgen.runtime.service import schemacheck
from shimgen.runtime.service.callers import Callers
from shimgen.runtime.service.schemacheck import MAX_ERRORS
from shimgen.runtime.service.settings import ConfigError, Settings
from tests.security.sides_support import audit_events, live_upstream, settings_for, shim_client
from tests.service_support import KEY_PARTNER, KEYS_FILE, RECORD, headers, sha, token

ISSUER = "https://idp.test/"
AUDIENCE = "customer-shim"
IDP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)


def write_callers(tmp_path: Path, jwt_extra: str = "", top_extra: str = "") -> Path:
    """``partner`` (API key, internal, a small own rate) and the IdP's JWT callers (internal)."""
    pem = IDP_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "idp.pem").write_bytes(pem)
    path = tmp_path / "callers.yaml"
    path.write_text(
        "callers:\n"
        "  - name: partner\n"
        "    side: internal\n"
        "    groups: [support, billing]\n"
        f"    api_keys: ['{sha(KEY_PARTNER)}']\n"
        "    rate_limit: {per_second: 0.01, burst: 3}\n"
        "jwt:\n"
        f"  issuer: {ISSUER}\n"
        f"  audience: {AUDIENCE}\n"
        "  algorithms: [RS256]\n"
        "  public_key_file: idp.pem\n"
        "  side: internal\n" + jwt_extra + top_extra,
        encoding="utf-8",
    )
    return path


def bearer(
    sub: str = "app-7", groups: Any = ("support",), group: str = "support"
) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "groups": groups}
    if isinstance(groups, tuple):
        claims["groups"] = list(groups)
    tok = jwt.encode(claims, IDP_KEY, algorithm="RS256")
    return {"Authorization": f"Bearer {tok}", "Shim-Group": group}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path, write_callers(tmp_path))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with shim_client(settings) as c:
        yield c


# -- duplicate member names (I-JSON) ---------------------------------------------------------

DUPLICATES = {
    "top-level": b'{"id": "3f6c2a1e-8b4d-4c59-9a1f-2d7e6b0c4a11", "id": "../../admin"}',
    "nested": b'{"name": {"given": "A", "given": "B"}}',
    "in-a-batch": b'[{"status": "A"}, {"status": "A", "status": "X"}]',
    "beside-colons-in-strings": b'{"note": "at 12:00", "status": "A", "status": "X"}',
    "escaped-name": b'{"status": "A", "st\\u0061tus": "X"}',
}


@pytest.mark.parametrize("body", DUPLICATES.values(), ids=DUPLICATES.keys())
@pytest.mark.parametrize("path", ["/v1/outbound", "/v1/inbound"])
def test_duplicate_member_name_is_400_on_translation_endpoints(
    client: TestClient, path: str, body: bytes
) -> None:
    response = client.post(path, content=body, headers=headers())
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/duplicate-key")
    assert "admin" not in response.text


def test_duplicate_member_name_is_400_on_a_proxy_route_and_not_forwarded(tmp_path: Path) -> None:
    with live_upstream() as (fake, url):
        settings = settings_for(tmp_path, write_callers(tmp_path), url)
        with shim_client(settings) as client:
            tok = token(RECORD["id"])
            body = b'{"status": "active", "status": "closed"}'
            response = client.patch(f"/customers/{tok}", content=body, headers=headers())
            assert response.status_code == 400
            assert fake.seen == []


def test_colons_in_strings_alone_are_not_duplicates(client: TestClient) -> None:
    # The fast path counts colons; strings holding colons take the exact check instead.
    record = {**RECORD, "email": "a:b@example.com", "name": {"given": "a:b", "family": "::"}}
    response = client.post("/v1/outbound", json=record, headers=headers())
    assert response.status_code in (200, 422), response.text
    assert response.status_code != 400
    assert (
        client.post(
            "/v1/inbound",
            content=b'{"status": "active", "x:y": 1, "status": "closed"}',
            headers=headers(),
        )
        .json()["type"]
        .endswith("/duplicate-key")
    )


# -- failed authentication is rate-limited per client address -------------------------------


def test_failed_authentication_is_429_after_the_burst(client: TestClient) -> None:
    bad = {"X-API-Key": "guess-" + "g" * 40, "Shim-Group": "support"}
    statuses = [
        client.post("/v1/outbound", json=RECORD, headers=bad).status_code for _ in range(25)
    ]
    assert statuses[:20] == [401] * 20  # the default: 20 at once, then one a second
    assert set(statuses[20:]) == {429}
    blocked = client.post("/v1/outbound", json=RECORD, headers=bad)
    assert blocked.headers["content-type"] == "application/problem+json"
    assert int(blocked.headers["retry-after"]) >= 1


def test_failed_authentication_limit_is_per_address(settings: Settings) -> None:
    bad = {"X-API-Key": "guess-" + "g" * 40, "Shim-Group": "support"}
    with shim_client(settings, client=("198.51.100.7", 4000)) as attacker:
        for _ in range(21):
            attacker.post("/v1/outbound", json=RECORD, headers=bad)
        assert attacker.post("/v1/outbound", json=RECORD, headers=bad).status_code == 429
        # Valid credentials are never refused by it: callers sharing the address (one proxy,
        # one NAT) with a guesser are not locked out.
        assert attacker.post("/v1/outbound", json=RECORD, headers=headers()).status_code == 200
        assert attacker.post("/v1/outbound", json=RECORD, headers=bad).status_code == 429
    with shim_client(settings, client=("198.51.100.8", 4000)) as other:
        assert other.post("/v1/outbound", json=RECORD, headers=bad).status_code == 401
        assert other.post("/v1/outbound", json=RECORD, headers=headers()).status_code == 200


def test_failed_authentication_limit_is_set_in_the_callers_file(tmp_path: Path) -> None:
    callers = write_callers(tmp_path, top_extra="failed_auth: {per_second: 0.01, burst: 2}\n")
    with shim_client(settings_for(tmp_path, callers)) as client:
        statuses = [
            client.post("/v1/inbound", json={}, headers={"X-API-Key": "nope"}).status_code
            for _ in range(3)
        ]
    assert statuses == [401, 401, 429]


# -- one identity per caller ---------------------------------------------------------------------


def test_jwt_subject_named_like_an_api_key_caller_is_another_identity(
    client: TestClient, settings: Settings
) -> None:
    # partner's own bucket holds 3; a JWT whose sub is "partner" must not drain it.
    for _ in range(3):
        assert client.post("/v1/inbound", json={}, headers=bearer(sub="partner")).status_code == 200
    assert client.post("/v1/inbound", json={}, headers=headers()).status_code == 200
    callers = [e["caller"] for e in audit_events(settings)]
    assert callers == [f"jwt:{ISSUER}#partner"] * 3 + ["key:partner"]


def test_api_key_caller_bucket_is_its_own(client: TestClient) -> None:
    for _ in range(3):
        assert client.post("/v1/inbound", json={}, headers=headers()).status_code == 200
    assert client.post("/v1/inbound", json={}, headers=headers()).status_code == 429
    assert client.post("/v1/inbound", json={}, headers=bearer(sub="partner")).status_code == 200
    # ... and the JWT caller's request (at the service's default rate) gave partner nothing back
    assert client.post("/v1/inbound", json={}, headers=headers()).status_code == 429


def test_string_groups_claim_is_refused_by_default(client: TestClient) -> None:
    response = client.post("/v1/inbound", json={}, headers=bearer(groups="support billing"))
    assert response.status_code == 401
    assert "'groups' claim is not a list of group names" in response.json()["detail"]


def test_string_groups_claim_is_read_when_declared(tmp_path: Path) -> None:
    callers = write_callers(tmp_path, jwt_extra="  groups_format: space-separated\n")
    with shim_client(settings_for(tmp_path, callers)) as client:
        ok = client.post("/v1/inbound", json={}, headers=bearer(groups="billing support"))
        assert ok.status_code == 200
        wrong = bearer(groups="billing support", group="fraud")
        assert client.post("/v1/inbound", json={}, headers=wrong).status_code == 403


# -- the request id is the shim's own --------------------------------------------------------


def test_audit_request_id_is_the_shims_own_and_the_callers_is_kept_beside_it(
    client: TestClient, settings: Settings
) -> None:
    given = ["req-42", "req-42", "x" * 200, "semi;colon<script>"]
    answers = [  # partner's own bucket holds 3: the fourth request comes with a JWT
        client.post("/v1/inbound", json={}, headers={**hdrs, "X-Request-Id": rid})
        for rid, hdrs in zip(given, [headers()] * 3 + [bearer()], strict=True)
    ]
    events = audit_events(settings)
    assert [e["request_id"] for e in events] == [a.headers["x-request-id"] for a in answers]
    assert len({e["request_id"] for e in events}) == 4  # a reused caller id collides with nothing
    assert [e["caller_request_id"] for e in events] == ["req-42", "req-42", None, None]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "failed_auth: {per_second: 0, burst: 5}\n",
            "failed_auth per_second must be greater than 0",
        ),
        ("failed_auth: {per_second: 1}\n", "failed_auth lacks the required key 'burst'"),
        ("failed_auth: {per_second: 1, burst: 0}\n", "burst must be a whole number >= 1"),
        ("failed_auth: {per_second: 1, burst: 5, ban: 1}\n", "unknown key 'ban' in failed_auth"),
    ],
)
def test_failed_auth_setting_is_checked_at_start_up(
    tmp_path: Path, extra: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Callers.load(write_callers(tmp_path, top_extra=extra), ["support", "billing"])


@pytest.mark.parametrize("value", ["space", "csv", "true", "[list]"])
def test_unknown_groups_format_is_refused_at_start_up(tmp_path: Path, value: str) -> None:
    with pytest.raises(
        ConfigError, match="jwt 'groups_format' must be one of: list, space-separated"
    ):
        Callers.load(
            write_callers(tmp_path, jwt_extra=f"  groups_format: {value}\n"), ["support", "billing"]
        )


# -- huge bodies cost what the error list keeps, not what they hold ---------------------------


class _Counted(Problem):
    """A Problem that counts its constructions (work done, not wall time)."""

    built = 0

    def __init__(self, pointer: str, message: str) -> None:
        _Counted.built += 1
        super().__init__(pointer, message)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[_Counted]:
    _Counted.built = 0
    monkeypatch.setattr(schemacheck, "Problem", _Counted)
    return _Counted


CLOSED = {"components": {"schemas": {"R": {
    "type": "object", "additionalProperties": False, "properties": {"n": {"type": "integer"}},
}}}}  # fmt: skip


def test_unknown_members_build_at_most_max_errors_problems(counted: type[_Counted]) -> None:
    body = {f"m{i}": 1 for i in range(90_000)}  # the 979 KB attack: 90,000 unknown members
    problems = schemacheck.SchemaValidator(CLOSED, "R").problems(body)
    assert len(problems) == MAX_ERRORS
    assert counted.built == MAX_ERRORS  # was 90,000 built, 100 kept


def test_a_batch_of_bad_items_builds_at_most_max_errors_problems(counted: type[_Counted]) -> None:
    items = [{"n": "x", "extra": 1} for _ in range(10_000)]  # two problems per item
    problems = schemacheck.SchemaValidator(CLOSED, "R").problems_each(items)
    assert len(problems) == MAX_ERRORS
    assert counted.built == MAX_ERRORS
    assert problems[-1].pointer.startswith("/49/")


def test_huge_body_of_unknown_members_is_422_with_a_capped_list(
    client: TestClient, counted: type[_Counted]
) -> None:
    body = {"customerId": token(RECORD["id"]), **{f"m{i}": 1 for i in range(20_000)}}
    response = client.post(
        "/v1/inbound",
        content=json.dumps(body),
        headers={**bearer(), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert len(response.json()["errors"]) <= MAX_ERRORS
    assert 0 < counted.built <= MAX_ERRORS


# -- a refused token says nothing about the keyset ------------------------------------------------


def test_refused_tokens_get_one_message_whatever_check_failed(client: TestClient) -> None:
    """An unknown key id, another field's token, an altered one and a malformed one read alike:
    different messages told a caller which key ids the shim's keyset holds."""
    good = token(RECORD["id"])
    prefix, kid, body = good.split(".")
    refused = {
        "unknown-key": f"{prefix}.zz{kid}.{body}",
        "altered": f"{prefix}.{kid}.{body[:-2]}{'AB' if body[-2:] != 'AB' else 'CD'}",
        "malformed": f"{prefix}.{kid}.",
    }
    answers = {}
    for name, value in refused.items():
        response = client.post(
            "/v1/inbound", json={"customerId": value}, headers=headers(key=KEY_PARTNER)
        )
        assert response.status_code == 422, (name, response.text)
        problem = response.json()
        answers[name] = (
            problem["detail"],
            [(e["pointer"], e["message"]) for e in problem["errors"]],
        )
        assert value not in response.text and kid not in json.dumps(problem["errors"])
    assert len(set(map(repr, answers.values()))) == 1, answers
