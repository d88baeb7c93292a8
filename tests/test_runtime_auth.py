"""Tests for ``shimgen.runtime.service.auth``: callers file, API keys, JWTs, groups, rate limits, CLI."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from shimgen.runtime.service.auth import (
    Authenticator,
    AuthError,
    Caller,
    Callers,
    RateLimit,
    RateLimiter,
    get_header,
    hash_api_key,
    main,
    new_api_key,
    select_group,
)
from shimgen.runtime.service.settings import ConfigError

GROUPS = frozenset({"support", "billing", "fraud-review"})
KEY_A, HASH_A = new_api_key()
KEY_B, HASH_B = new_api_key()
KEY_C, HASH_C = new_api_key()
ISSUER = "https://idp.example.com/"
AUDIENCE = "customer-shim"
HS_SECRET = "x" * 40

CALLERS_YAML = f"""\
callers:
  - name: partner-portal
    groups: [support]
    api_keys:
      - {HASH_A}
    rate_limit: {{per_second: 20, burst: 40}}
    description: Partner portal
  - name: billing-batch
    groups: [billing, support]
    api_keys: [{HASH_B}, {HASH_C.upper().replace("SHA256:", "sha256:")}]
"""


def pem(key: Any) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def jwt_yaml(algs: str, key_line: str, extra: str = "") -> str:
    return (
        f"jwt:\n  issuer: {ISSUER}\n  audience: {AUDIENCE}\n  algorithms: [{algs}]\n"
        f"  {key_line}\n{extra}"
    )


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Callers:
    path = tmp_path / "callers.yaml"
    path.write_text(text, encoding="utf-8")
    return Callers.load(path, GROUPS, environ or {})


def rsa_callers(tmp_path: Path, extra: str = "") -> Callers:
    (tmp_path / "idp.pem").write_bytes(pem(RSA_KEY))
    return load(tmp_path, CALLERS_YAML + jwt_yaml("RS256", "public_key_file: idp.pem", extra))


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "app-7",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "groups": ["support", "admin"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(key: Any = RSA_KEY, algorithm: str = "RS256", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm=algorithm)


def bearer(tok: str) -> dict[str, str]:
    return {"authorization": f"Bearer {tok}"}


def deny(authn: Authenticator, headers: Any, status: int = 401) -> AuthError:
    with pytest.raises(AuthError) as info:
        authn.authenticate(headers)
    assert info.value.status == status
    return info.value


# -- loading the callers file -------------------------------------------------------------


def test_load_valid_file(tmp_path: Path) -> None:
    callers = load(tmp_path, CALLERS_YAML)
    assert [c.name for c in callers.callers] == ["partner-portal", "billing-batch"]
    portal, batch = callers.callers
    assert portal == Caller("partner-portal", frozenset({"support"}), "api_key", RateLimit(20, 40))
    assert batch.groups == {"billing", "support"} and batch.rate_limit is None
    assert len(callers.api_keys) == 3
    assert callers.jwt is None and callers.declared_groups == GROUPS


def test_no_callers_file_accepts_nobody() -> None:
    callers = Callers.load(None, GROUPS)
    assert callers.callers == () and callers.jwt is None
    err = deny(Authenticator(callers), {"x-api-key": KEY_A})
    assert err.www_authenticate and "X-API-Key" in err.www_authenticate


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read callers file .*missing\.yaml"):
        Callers.load(tmp_path / "missing.yaml", GROUPS)


H = "sha256:" + "a" * 64

BAD_FILES = [
    ("", 1, "must be a mapping"),
    ("- just a list\n", 1, "must be a mapping"),
    ("callers: []\n", 1, "no callers and no 'jwt'"),
    ("callers: {}\n", 1, "must be a list"),
    ("callers: []\nextra: 1\n", 2, "unknown key 'extra'"),
    ("callers:\n  - name: a\n    groups: [support]\n", 2, "required key 'api_keys'"),
    (f"callers:\n  - groups: [support]\n    api_keys: [{H}]\n", 2, "required key 'name'"),
    (f"callers:\n  - name: A!\n    groups: [support]\n    api_keys: [{H}]\n", 2, "name must be"),
    (f"callers:\n  - name: a\n    groups: [root]\n    api_keys: [{H}]\n", 3, "undeclared group"),
    (f"callers:\n  - name: a\n    groups: []\n    api_keys: [{H}]\n", 3, "non-empty list"),
    (f"callers:\n  - name: a\n    groups: support\n    api_keys: [{H}]\n", 3, "list of strings"),
    ("callers:\n  - name: a\n    groups: [support]\n    api_keys:\n      - md5:abc\n", 5, "64 hex"),
    (
        f"callers:\n  - name: a\n    groups: [support]\n    api_keys: [{H[:-1]}]\n",
        4,
        "'sha256:' and 64 hex digits",
    ),
    (
        f"callers:\n  - name: a\n    groups: [support]\n    api_keys: [{H[:-1]}g]\n",
        4,
        "64 hex digits",
    ),
    (
        f"callers:\n  - name: a\n    groups: [support]\n    api_keys: [{H}]\n"
        f"  - name: a\n    groups: [support]\n    api_keys: [{HASH_B}]\n",
        5,
        "unique",
    ),
    (
        f"callers:\n  - name: a\n    groups: [support]\n    api_keys: [{H}]\n"
        f"  - name: b\n    groups: [support]\n    api_keys:\n      - {HASH_B}\n      - {H}\n",
        9,
        "also listed for 'a'",
    ),
    (
        f"callers:\n  - name: a\n    name: b\n    groups: [support]\n    api_keys: [{H}]\n",
        3,
        "at most once",
    ),
    (f"callers:\n  - name: a\n    groups: [support]\n    api_keys: [{H}]\n    x: 1\n", 5, "'x'"),
    (
        f"callers:\n  - name: a\n    groups: [support]\n    api_keys: [{H}]\n"
        "    rate_limit: {per_second: -1, burst: 5}\n",
        5,
        "per_second",
    ),
    (
        f"callers:\n  - name: a\n    groups: [support]\n    api_keys: [{H}]\n"
        "    rate_limit:\n      per_second: 1\n      burst: 0.5\n",
        7,
        "burst",
    ),
    (
        f"callers:\n  - name: a\n    groups: [support]\n    api_keys: [{H}]\n"
        "    rate_limit: {per_second: 1}\n",
        5,
        "required key 'burst'",
    ),
    ("callers:\n  - name: [unclosed\n", 3, "not valid YAML"),
    ("callers:\n\t- tab\n", 2, "not valid YAML"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_FILES)
def test_bad_callers_files_report_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'callers.yaml'}:{line}: "), str(info.value)
    assert message in str(info.value)


def test_python_objects_are_not_constructed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(tmp_path, "callers: !!python/object/apply:os.system ['true']\n")


def test_uppercase_hashes_are_normalised(tmp_path: Path) -> None:
    authn = Authenticator(load(tmp_path, CALLERS_YAML))
    assert authn.authenticate({"x-api-key": KEY_C}).name == "billing-batch"


BAD_JWT = [
    ("none", "public_key_file: idp.pem", "", "'none' is refused"),
    ("RS256, None", "public_key_file: idp.pem", "", "'none' is refused"),
    ("XS256", "public_key_file: idp.pem", "", "unsupported algorithm"),
    ("HS256, RS256", "public_key_file: idp.pem", "", "do not mix"),
    ("RS256", "secret_env: SECRET", "", "public_key_file"),
    ("HS256", "public_key_file: idp.pem", "", "secret_env instead"),
    ("HS256", "secret_env: not a name", "", "must name an environment variable"),
    ("RS256", "public_key_file: nowhere.pem", "", "cannot read"),
    ("RS256", "public_key_file: junk.pem", "", "not a PEM public key"),
    ("ES256", "public_key_file: idp.pem", "", "does not fit ES256"),
    ("RS256", "public_key_file: ec.pem", "", "does not fit RS256"),
    ("ES384", "public_key_file: ec.pem", "", "does not fit ES384"),
    ("RS256", "public_key_file: small.pem", "", "2048 bits"),
    ("RS256", "public_key_file: idp.pem", "  leeway: 3600\n", "leeway"),
    ("RS256", "public_key_file: idp.pem", "  leeway: true\n", "leeway"),
    ("RS256", "public_key_file: idp.pem", "  scope: x\n", "unknown key 'scope'"),
    ("RS256", "public_key_file: idp.pem", "  caller_claim: ''\n", "caller_claim"),
    ("[]", "public_key_file: idp.pem", "", "non-empty list"),
]


@pytest.mark.parametrize(("algs", "key_line", "extra", "message"), BAD_JWT)
def test_bad_jwt_sections(
    tmp_path: Path, algs: str, key_line: str, extra: str, message: str
) -> None:
    (tmp_path / "idp.pem").write_bytes(pem(RSA_KEY))
    (tmp_path / "ec.pem").write_bytes(pem(EC_KEY))
    (tmp_path / "junk.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\nnope\n")
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "small.pem").write_bytes(pem(small))
    text = jwt_yaml(algs, key_line, extra).replace("[[]]", "[]")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, {"SECRET": HS_SECRET})
    assert message in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'callers.yaml'}:")


def test_jwt_section_needs_issuer(tmp_path: Path) -> None:
    (tmp_path / "idp.pem").write_bytes(pem(RSA_KEY))
    with pytest.raises(ConfigError, match=r"callers\.yaml:1: jwt lacks the required key 'issuer'"):
        load(tmp_path, "jwt:\n  audience: a\n  algorithms: [RS256]\n  public_key_file: idp.pem\n")


@pytest.mark.parametrize("value", [None, "short", "y" * 31])
def test_hmac_secret_must_be_set_and_long_enough(tmp_path: Path, value: str | None) -> None:
    env = {} if value is None else {"SHIM_JWT_SECRET": value}
    with pytest.raises(ConfigError) as info:
        load(tmp_path, jwt_yaml("HS256", "secret_env: SHIM_JWT_SECRET"), env)
    assert "SHIM_JWT_SECRET" in str(info.value) and "32 bytes" in str(info.value)
    if value:
        assert value not in str(info.value)


def test_hs512_needs_a_64_byte_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="64 bytes"):
        load(tmp_path, jwt_yaml("HS256, HS512", "secret_env: S"), {"S": HS_SECRET})


def test_jwt_only_file_and_relative_key_path(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "idp.pem").write_bytes(pem(RSA_KEY))
    callers = load(tmp_path, jwt_yaml("RS256, PS256", "public_key_file: keys/idp.pem"))
    assert callers.callers == () and callers.jwt is not None
    assert callers.jwt.algorithms == ("RS256", "PS256")
    assert callers.jwt.leeway == 30.0 and callers.jwt.caller_claim == "sub"
    assert "key=" not in repr(callers.jwt)


# -- API keys -----------------------------------------------------------------------


@pytest.fixture
def authn(tmp_path: Path) -> Authenticator:
    return Authenticator(rsa_callers(tmp_path), realm="customer")


@pytest.mark.parametrize("name", ["x-api-key", "X-API-Key", "X-Api-Key", "X-API-KEY"])
def test_api_key_header_is_case_insensitive(authn: Authenticator, name: str) -> None:
    caller = authn.authenticate({name: KEY_A})
    assert caller.name == "partner-portal" and caller.kind == "api_key"
    assert caller.rate_limit == RateLimit(20.0, 40)


def test_starlette_headers(authn: Authenticator) -> None:
    headers = Headers(raw=[(b"host", b"shim"), (b"x-api-key", KEY_B.encode())])
    assert authn.authenticate(headers).name == "billing-batch"
    assert get_header(headers, "authorization") is None


@pytest.mark.parametrize(
    "key",
    ["", " ", KEY_A + "x", KEY_A[:-1], KEY_A.upper(), HASH_A, "\ud800", "ключ"],
    # stable ids: the keys are random per process, and pytest-xdist workers must collect alike
    ids=["empty", "space", "longer", "shorter", "upper", "stored-hash", "surrogate", "cyrillic"],
)
def test_wrong_api_keys_are_refused_without_echo(authn: Authenticator, key: str) -> None:
    err = deny(authn, {"X-API-Key": key})
    assert err.title == "Unauthenticated" and "not valid" in err.detail
    assert err.headers["WWW-Authenticate"] == 'ApiKey header="X-API-Key", Bearer realm="customer"'
    if key.strip():
        assert key not in str(err) and key not in repr(err.args)


def test_no_credentials(authn: Authenticator) -> None:
    err = deny(authn, {"shim-group": "support"})
    assert "credentials required" in err.detail
    assert "Bearer" in err.headers["WWW-Authenticate"]


def test_both_credentials_are_ambiguous(authn: Authenticator) -> None:
    err = deny(authn, {"x-api-key": KEY_A, "Authorization": f"Bearer {token()}"})
    assert "not both" in err.detail


def test_every_stored_hash_is_compared(
    authn: Authenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for key in (KEY_A, KEY_C, "wrong"):
        calls.clear()
        with contextlib.suppress(AuthError):
            authn.authenticate({"x-api-key": key})
        assert len(calls) == 3  # no early exit, whichever key matched


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_random_keys_never_authenticate(key: str) -> None:
    callers = Callers.from_yaml(CALLERS_YAML, GROUPS, {})
    authn = Authenticator(callers)
    if key in (KEY_A, KEY_B, KEY_C):
        return
    with pytest.raises(AuthError):
        authn.authenticate({"x-api-key": key})


def test_api_key_authentication_is_fast(authn: Authenticator) -> None:
    headers = {"x-api-key": KEY_C}
    authn.authenticate(headers)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        authn.authenticate(headers)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 50e-6  # a few microseconds in practice; generous bound for slow CI


# -- JWTs -----------------------------------------------------------------------------


def test_valid_rs256_token(authn: Authenticator) -> None:
    caller = authn.authenticate(bearer(token()))
    # 'admin' is not declared; the identity names the issuer, the side defaults to external
    assert caller == Caller("app-7", frozenset({"support"}), "jwt", identity=f"jwt:{ISSUER}#app-7")
    assert caller.side == "external"


def test_bearer_scheme_is_case_insensitive_and_header_too(authn: Authenticator) -> None:
    assert authn.authenticate({"Authorization": f"bearer  {token()} "}).name == "app-7"


def test_groups_as_space_separated_string_when_declared(tmp_path: Path) -> None:
    authn = Authenticator(rsa_callers(tmp_path, "  groups_format: space-separated\n"))
    caller = authn.authenticate(bearer(token(groups="billing support root")))
    assert caller.groups == {"billing", "support"}


def test_missing_groups_claim_gives_no_groups(authn: Authenticator) -> None:
    caller = authn.authenticate(bearer(token(groups=None)))
    assert caller.groups == frozenset()
    with pytest.raises(AuthError) as info:
        select_group(caller, "support", GROUPS)
    assert info.value.status == 403


@pytest.mark.parametrize("groups", [42, {"support": True}, ["support", 3], "support billing"])
def test_malformed_groups_claim(authn: Authenticator, groups: Any) -> None:
    assert "'groups' claim" in deny(authn, bearer(token(groups=groups))).detail


@pytest.mark.parametrize("sub", [None, "", "a\nb", "x" * 300, " ", "alice ", " alice", "\u3000"])
def test_caller_claim_must_name_a_caller(authn: Authenticator, sub: Any) -> None:
    assert "'sub' claim does not name a caller" in deny(authn, bearer(token(sub=sub))).detail


def test_non_string_subject_is_refused(authn: Authenticator) -> None:
    expect_bad_token(authn, token(sub=7), "is not valid")  # PyJWT checks 'sub' is a string


def test_custom_claims(tmp_path: Path) -> None:
    extra = "  groups_claim: roles\n  caller_claim: client_id\n  leeway: 0\n"
    authn = Authenticator(rsa_callers(tmp_path, extra))
    caller = authn.authenticate(bearer(token(client_id="svc", roles=["fraud-review"])))
    assert caller == Caller("svc", frozenset({"fraud-review"}), "jwt", identity=f"jwt:{ISSUER}#svc")


def expect_bad_token(authn: Authenticator, tok: str, reason: str) -> AuthError:
    err = deny(authn, bearer(tok))
    assert reason in err.detail, err.detail
    assert 'error="invalid_token"' in err.headers["WWW-Authenticate"]
    for part in tok.split("."):
        if len(part) > 8:
            assert part not in str(err)
    return err


def test_expired_token(authn: Authenticator) -> None:
    now = int(time.time())
    expect_bad_token(authn, token(exp=now - 60, iat=now - 600), "has expired")
    # within the 30 s default leeway it is still accepted
    assert authn.authenticate(bearer(token(exp=now - 10, iat=now - 600))).name == "app-7"


def test_token_not_valid_yet(authn: Authenticator) -> None:
    expect_bad_token(authn, token(nbf=int(time.time()) + 600), "not valid yet")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "another-shim"}, "not meant for this service"),
        ({"aud": ["another-shim", "third"]}, "not meant for this service"),
        ({"iss": "https://evil.example.com/"}, "not from the trusted issuer"),
        ({"exp": None}, "lacks a required claim"),
        ({"iss": None}, "lacks a required claim"),
        ({"aud": None}, "lacks a required claim"),
        ({"exp": "tomorrow"}, "is not valid"),
    ],
)
def test_claims_are_checked(authn: Authenticator, overrides: dict[str, Any], reason: str) -> None:
    expect_bad_token(authn, token(**overrides), reason)


def test_audience_in_a_list_is_accepted(authn: Authenticator) -> None:
    assert authn.authenticate(bearer(token(aud=["other", AUDIENCE]))).name == "app-7"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_alg_none_is_refused(authn: Authenticator) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims()).encode())
    expect_bad_token(authn, f"{header}.{body}.", "is not valid")
    expect_bad_token(authn, jwt.encode(claims(), "", algorithm="none"), "is not valid")


def test_hs256_token_signed_with_the_public_key_is_refused(authn: Authenticator) -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the RSA public key PEM."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims()).encode())
    sig = hmac.new(pem(RSA_KEY), f"{header}.{body}".encode(), hashlib.sha256).digest()
    expect_bad_token(authn, f"{header}.{body}.{b64url(sig)}", "is not valid")
    expect_bad_token(authn, token(HS_SECRET, "HS256"), "is not valid")


def test_tampered_tokens_are_refused(authn: Authenticator) -> None:
    good = token()
    header, body, sig = good.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    expect_bad_token(authn, f"{header}.{body}.{flipped}", "is not valid")
    forged = b64url(json.dumps(claims(sub="admin", groups=["billing"])).encode())
    expect_bad_token(authn, f"{header}.{forged}.{sig}", "is not valid")
    expect_bad_token(authn, token(OTHER_RSA_KEY), "is not valid")
    expect_bad_token(authn, "not.a.jwt", "is not valid")
    expect_bad_token(authn, "x" * 20_000, "is not valid")


def test_other_authorization_schemes(authn: Authenticator) -> None:
    assert "Bearer <token>" in deny(authn, {"authorization": "Basic dXNlcjpwYXNz"}).detail
    assert "Bearer <token>" in deny(authn, {"authorization": "Bearer "}).detail


def test_bearer_without_jwt_config(tmp_path: Path) -> None:
    authn = Authenticator(load(tmp_path, CALLERS_YAML))
    err = deny(authn, bearer(token()))
    assert "not accepted" in err.detail
    assert err.headers == {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}


def test_es256_and_eddsa(tmp_path: Path) -> None:
    (tmp_path / "ec.pem").write_bytes(pem(EC_KEY))
    authn = Authenticator(load(tmp_path, jwt_yaml("ES256", "public_key_file: ec.pem")))
    assert authn.authenticate(bearer(token(EC_KEY, "ES256"))).kind == "jwt"
    expect_bad_token(authn, token(RSA_KEY, "RS256"), "is not valid")
    (tmp_path / "ed.pem").write_bytes(pem(ED_KEY))
    authn = Authenticator(load(tmp_path, jwt_yaml("EdDSA", "public_key_file: ed.pem")))
    assert authn.authenticate(bearer(token(ED_KEY, "EdDSA"))).name == "app-7"


def test_certificate_as_public_key_file(tmp_path: Path) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(RSA_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(RSA_KEY, hashes.SHA256())
    )
    (tmp_path / "idp.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    authn = Authenticator(load(tmp_path, jwt_yaml("RS256", "public_key_file: idp.crt")))
    assert authn.authenticate(bearer(token())).name == "app-7"


def test_hs256_config(tmp_path: Path) -> None:
    callers = load(
        tmp_path, jwt_yaml("HS256", "secret_env: SHIM_JWT_SECRET"), {"SHIM_JWT_SECRET": HS_SECRET}
    )
    authn = Authenticator(callers)
    assert authn.authenticate(bearer(token(HS_SECRET, "HS256"))).name == "app-7"
    expect_bad_token(authn, token(RSA_KEY, "RS256"), "is not valid")
    expect_bad_token(authn, token("y" * 40, "HS256"), "is not valid")


# -- groups ---------------------------------------------------------------------------

MEMBER = Caller("partner-portal", frozenset({"support", "billing"}), "api_key")


def test_select_group() -> None:
    assert select_group(MEMBER, "support", GROUPS) == "support"
    assert select_group(MEMBER, " billing ", GROUPS) == "billing"


@pytest.mark.parametrize(
    ("value", "title"),
    [
        (None, "Group required"),
        ("", "Group required"),
        ("   ", "Group required"),
        ("admin-secret-group", "Unknown group"),
        ("Support", "Unknown group"),
        ("fraud-review", "Group not allowed"),
    ],
)
def test_select_group_refusals(value: str | None, title: str) -> None:
    with pytest.raises(AuthError) as info:
        select_group(MEMBER, value, GROUPS)
    err = info.value
    assert (err.status, err.title) == (403, title)
    assert err.headers == {}
    if value and value.strip():
        assert value not in err.detail


def test_get_header_on_plain_mappings() -> None:
    assert get_header({"Shim-Group": "support"}, "shim-group") == "support"
    assert get_header({"shim-group": "billing"}, "shim-group") == "billing"
    assert get_header({}, "shim-group") is None


def test_auth_error_pickles_and_prints() -> None:
    err = AuthError(401, "Unauthenticated", "the API key is not valid", 'ApiKey header="X-API-Key"')
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.status, copy.title, copy.detail, copy.headers) == (
        401,
        "Unauthenticated",
        "the API key is not valid",
        {"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
    )
    assert str(err) == "401 Unauthenticated: the API key is not valid"


# -- rate limiting ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("a") == pytest.approx(0.5)
    assert limiter.retry_after("b") is None  # buckets are per caller
    clock.now += 0.25
    assert limiter.retry_after("a") == pytest.approx(0.25)
    clock.now += 0.25
    assert limiter.retry_after("a") is None
    clock.now += 100
    assert [limiter.retry_after("a") for _ in range(4)][-1] is not None  # refilled to burst only


def test_rate_zero_is_unlimited_and_keeps_no_state() -> None:
    limiter = RateLimiter(0, 1)
    assert all(limiter.retry_after(f"c{i}") is None for i in range(1000))
    assert len(limiter) == 0
    assert RateLimiter(5, 1).retry_after("x", rate=0) is None


def test_per_caller_override_and_for_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1000, burst=1000, clock=clock)
    slow = Caller("slow", frozenset(), "api_key", RateLimit(1, 1))
    assert limiter.for_caller(slow) is None
    assert limiter.for_caller(slow) == pytest.approx(1.0)
    fast = Caller("fast", frozenset(), "jwt")
    assert all(limiter.for_caller(fast) is None for _ in range(1000))
    assert limiter.for_caller(fast) is not None


def test_clock_going_backwards_adds_no_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    assert limiter.retry_after("a") is None
    clock.now -= 50
    assert limiter.retry_after("a") is not None


def test_idle_buckets_are_evicted_but_busy_ones_kept() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=0.01, burst=2, clock=clock, max_buckets=10)
    for _ in range(2):
        limiter.retry_after("busy")
    assert limiter.retry_after("busy") is not None
    for i in range(500):
        # fast callers: their buckets are full again a millisecond later, i.e. idle
        limiter.retry_after(f"idle-{i}", rate=1000, burst=2)
        clock.now += 0.001
        assert len(limiter) <= 10
    # evicting 'busy' (the least recently used) would have given it a fresh burst
    assert limiter.retry_after("busy") is not None


def test_memory_bounded_even_when_every_bucket_is_busy() -> None:
    limiter = RateLimiter(rate=0.001, burst=1, clock=FakeClock(), max_buckets=50)
    for i in range(1000):
        limiter.retry_after(f"c{i}")
        assert len(limiter) <= 50


def test_busy_buckets_are_dropped_least_recently_used_first() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=0.001, burst=1, clock=clock, max_buckets=10)
    for i in range(10):
        assert limiter.retry_after(f"c{i}") is None
        clock.now += 1
    assert limiter.retry_after("c0") is not None  # c0 used again: now the most recent
    clock.now += 1
    assert limiter.retry_after("new") is None  # full: drops c1 (least recently used)
    assert len(limiter) == 10
    assert limiter.retry_after("c0") is not None  # kept, still empty
    assert limiter.retry_after("c2") is not None
    assert limiter.retry_after("c1") is None  # dropped, so a fresh bucket


@pytest.mark.parametrize(("rate", "burst"), [(-1, 1), (float("nan"), 1), (1, 0)])
def test_invalid_limiter_arguments(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=120),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, burst, clock=clock)
    allowed: list[float] = []
    for gap in gaps:
        clock.now += gap
        if limiter.retry_after("c") is None:
            allowed.append(clock.now)
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            count = j - i + 1
            assert count <= burst + rate * (allowed[j] - start) + 1e-6


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=60),
)
def test_waiting_retry_after_is_enough(rate: float, burst: int, gaps: list[float]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, burst, clock=clock)
    for gap in gaps:
        clock.now += gap
        wait = limiter.retry_after("c")
        if wait is not None:
            assert 0 < wait <= 1 / rate + 1e-9
            clock.now += wait * (1 + 1e-9) + 1e-9
            assert limiter.retry_after("c") is None


# -- keys and command line ------------------------------------------------------------


def test_new_api_key() -> None:
    key, line = new_api_key()
    assert len(key) >= 43 and line == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert hash_api_key(key) == line
    assert new_api_key()[0] != key


def test_main_new_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-key"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("#")
    key = lines[1].removeprefix("key:").strip()
    assert lines[2] == f"hash: {hash_api_key(key)}"


def test_main_hash_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(KEY_A + "\n"))
    assert main(["hash"]) == 0
    assert capsys.readouterr().out.strip() == HASH_A
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["hash"]) == 2


def test_module_runs_as_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "shimgen.runtime.service.auth", "new-key"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    assert "python -m" not in out and "hash: sha256:" in out


def test_generated_key_round_trips_through_a_callers_file(tmp_path: Path) -> None:
    key, line = new_api_key()
    text = f"callers:\n  - name: new-partner\n    groups: [billing]\n    api_keys: [{line}]\n"
    authn = Authenticator(load(tmp_path, text))
    caller = authn.authenticate({"X-API-Key": key})
    assert select_group(caller, "billing", GROUPS) == "billing"


def test_generated_package_names_its_own_callers_command() -> None:
    """The usage line is a command that runs from the generated package (issue 11, item 9)."""
    golden = Path(__file__).resolve().parents[1] / "generated_examples" / "customer_shim"
    done = subprocess.run(
        [sys.executable, "-m", "customer_shim", "callers", "--help"],
        cwd=golden,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("usage: python -m customer_shim callers "), done.stdout


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_time_claims_must_be_numbers(authn: Authenticator, claim: str) -> None:
    """RFC 7519 NumericDate: PyJWT takes a numeric string for exp; the shim does not."""
    import time as _time

    value = str(int(_time.time()) + (600 if claim == "exp" else -600))
    assert f"'{claim}' claim is not a number" in deny(authn, bearer(token(**{claim: value}))).detail
