"""Tests for ``shimgen.runtime.core.keys``: tokens, hashes, keysets, loading, CLI.

What the runtime's parts may import is checked in ``tests/test_runtime_layout.py``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shimgen.runtime.core import keys as keys_mod
from shimgen.runtime.core.errors import KeysetError, Problem, TokenError, TranslationError
from shimgen.runtime.core.keys import Keyset, current, install, load_keyset, main, reset

REPO_ROOT = Path(keys_mod.__file__).parents[3]  # shimgen/runtime/core/keys.py

K1 = bytes(range(64))
K2 = bytes(range(64, 128))
KS = Keyset("k1", {"k1": K1})
KS2 = KS.rotate("k2")

values = st.one_of(st.text(max_size=50), st.integers(min_value=-(10**30), max_value=10**30))
contexts = st.text(min_size=1, max_size=30)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(autouse=True)
def _clean_current() -> Iterator[None]:
    reset()
    yield
    reset()


# -- tokens -----------------------------------------------------------------


@given(values, contexts)
def test_tokenize_round_trip_preserves_type(value: str | int, context: str) -> None:
    token = KS.tokenize(value, context)
    back = KS.detokenize(token, context)
    assert back == value
    assert type(back) is type(value)


@given(values, contexts)
def test_tokenize_is_deterministic_and_survives_serialisation(
    value: str | int, context: str
) -> None:
    same = Keyset.from_json(KS.to_json())
    assert (
        KS.tokenize(value, context) == KS.tokenize(value, context) == same.tokenize(value, context)
    )


@given(values, contexts, contexts)
def test_token_for_another_context_is_rejected(value: str | int, c1: str, c2: str) -> None:
    if c1 == c2:
        return
    token = KS.tokenize(value, c1)
    with pytest.raises(TokenError) as info:
        KS.detokenize(token, c2)
    assert token not in str(info.value)


def test_str_and_int_tokens_differ() -> None:
    assert KS.tokenize("1", "c:id") != KS.tokenize(1, "c:id")
    assert KS.detokenize(KS.tokenize("1", "c:id"), "c:id") == "1"


def test_token_shape() -> None:
    token = KS.tokenize("hello", "customer:id")
    version, kid, body = token.split(".")
    assert (version, kid) == ("t1", "k1")
    assert "=" not in body
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@given(values, contexts)
def test_rotation_keeps_old_tokens_readable(value: str | int, context: str) -> None:
    old = KS.tokenize(value, context)
    assert KS2.primary == "k2"
    assert KS2.detokenize(old, context) == value
    new = KS2.tokenize(value, context)
    assert new.startswith("t1.k2.")
    assert new != old
    with pytest.raises(TokenError) as info:
        KS.detokenize(new, context)
    assert info.value.reason == "unknown-key"


@given(values, st.data())
def test_any_change_to_a_token_is_rejected(value: str | int, data: st.DataObject) -> None:
    token = KS.tokenize(value, "c:id")
    i = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    c = data.draw(st.characters(codec="ascii"))
    tampered = token[:i] + c + token[i + 1 :]
    if tampered == token:
        return
    with pytest.raises(TokenError) as info:
        KS.detokenize(tampered, "c:id")
    assert tampered not in str(info.value)


@given(st.text(max_size=80))
def test_garbage_is_a_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        KS.detokenize(text, "c:id")
    with pytest.raises(TokenError):
        KS.detokenize("t1.k1." + text, "c:id")


@pytest.mark.parametrize(
    "token", [None, 5, b"t1.k1.AAAA", "", "t1.", "t1.k1", "t1.k1.", "t2.k1.AAAA"]
)
def test_malformed_tokens(token: Any) -> None:
    with pytest.raises(TokenError, match="not a token") as info:
        KS.detokenize(token, "c:id")
    assert info.value.reason == "malformed"


def test_unknown_key_id() -> None:
    body = KS.tokenize("secret", "c:id").split(".")[2]
    token = f"t1.zz.{body}"
    with pytest.raises(TokenError) as info:
        KS.detokenize(token, "c:id")
    assert info.value.reason == "unknown-key"
    assert body not in str(info.value)


def test_other_keyset_cannot_read_tokens() -> None:
    other = Keyset("k1", {"k1": K2})
    with pytest.raises(TokenError) as info:
        other.detokenize(KS.tokenize("x", "c:id"), "c:id")
    assert info.value.reason == "not-this-field"


def test_every_refused_token_has_one_message() -> None:
    """Which check failed would tell a caller which key ids exist (issue 10)."""
    body = KS.tokenize("secret", "c:id").split(".")[2]
    refused = [f"t1.zz.{body}", f"t1.k1.{body}x", KS.tokenize("secret", "other:id"), "t1.k1."]
    messages = set()
    for token in refused:
        with pytest.raises(TokenError) as info:
            KS.detokenize(token, "c:id")
        messages.add(str(info.value))
    assert len(messages) == 1


@pytest.mark.parametrize("value", [True, 1.5, None, b"x", "\ud800"])
def test_tokenize_rejects_other_types(value: Any) -> None:
    with pytest.raises(ValueError) as info:
        KS.tokenize(value, "c:id")
    assert "\ud800" not in str(info.value)


# -- hashes -----------------------------------------------------------------


@given(
    st.one_of(values, st.floats(allow_nan=False)), contexts, st.integers(min_value=1, max_value=64)
)
def test_hash_is_deterministic_hex_of_length(
    value: str | int | float, context: str, length: int
) -> None:
    h = KS.hash(value, context, length)
    assert h == KS.hash(value, context, length)
    assert len(h) == length
    assert set(h) <= set("0123456789abcdef")
    assert KS.hash(value, context, 64).startswith(h)


@given(values, contexts, contexts)
def test_hash_separates_contexts(value: str | int, c1: str, c2: str) -> None:
    if c1 != c2:
        assert KS.hash(value, c1, 64) != KS.hash(value, c2, 64)


def test_hash_separates_types_and_keys() -> None:
    assert len({KS.hash("1", "c"), KS.hash(1, "c"), KS.hash(1.0, "c")}) == 3
    assert KS.hash("x", "c") != KS2.hash("x", "c")  # new primary, new pseudonyms
    assert KS.hash("x", "c") != KS.tokenize("x", "c")
    assert len(KS.hash("x", "c")) == 32


@pytest.mark.parametrize("length", [0, 65, -1, True, 3.0])
def test_hash_rejects_bad_length(length: Any) -> None:
    with pytest.raises(ValueError):
        KS.hash("x", "c", length)


@pytest.mark.parametrize("value", [True, None, b"x", [1]])
def test_hash_rejects_other_types(value: Any) -> None:
    with pytest.raises(ValueError):
        KS.hash(value, "c")


# -- keyset construction and JSON ---------------------------------------------

SECRET = b64(K2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        (json.dumps({"primary": "k1", "keys": {"k1": SECRET}, "extra": SECRET}), "JSON object"),
        (json.dumps({"keys": {"k1": SECRET}}), "no 'primary'"),
        (json.dumps({"primary": "k1"}), "'keys'"),
        (json.dumps({"primary": "k1", "keys": {}}), "'keys'"),
        (json.dumps({"primary": "k9", "keys": {"k1": SECRET}}), "not one of its keys"),
        (json.dumps({"primary": SECRET, "keys": {"k1": SECRET}}), "primary is not a valid key id"),
        (json.dumps({"primary": "k1", "keys": {SECRET: SECRET}}), "invalid key id"),
        (json.dumps({"primary": "k1", "keys": {"bad id!": SECRET}}), "invalid key id"),
        (json.dumps({"primary": "k1", "keys": {"k" * 33: SECRET}}), "invalid key id"),
        (json.dumps({"primary": "k1", "keys": {"k1": SECRET + "!"}}), "not a standard base64"),
        (json.dumps({"primary": "k1", "keys": {"k1": SECRET[:10] + "-" + SECRET[11:]}}), "base64"),
        (json.dumps({"primary": "k1", "keys": {"k1": SECRET[:-1]}}), "base64"),
        (json.dumps({"primary": "k1", "keys": {"k1": SECRET[:-4]}}), "63 bytes"),
        (json.dumps({"primary": "k1", "keys": {"k1": 12345}}), "base64"),
        (json.dumps({"primary": "k1", "keys": {"k1": b64(K2[:32])}}), "32 bytes"),
        (json.dumps({"primary": "k1", "keys": {"k1": b64(K2 + b"x")}}), "65 bytes"),
        (f'{{"primary": "k1", "keys": {{"k1": "{SECRET}", "k1": "{b64(K1)}"}}}}', "repeats"),
    ],
)
def test_keyset_json_errors_do_not_echo_key_material(text: str, expected: str) -> None:
    with pytest.raises(KeysetError, match=expected) as info:
        Keyset.from_json(text)
    message = str(info.value)
    assert SECRET[:16] not in message
    assert b64(K2[:32])[:16] not in message
    assert "bad id!" not in message


def test_key_errors_say_how_to_generate() -> None:
    with pytest.raises(KeysetError, match=r"runtime\.core\.keys new > keys\.json"):
        Keyset.from_json(json.dumps({"primary": "k1", "keys": {"k1": b64(b"short")}}))


def test_keyset_json_round_trip() -> None:
    data = json.loads(KS2.to_json())
    assert data == {"primary": "k2", "keys": {"k1": b64(K1), "k2": data["keys"]["k2"]}}
    again = Keyset.from_json(KS2.to_json())
    assert again.primary == "k2"
    assert again.key_ids == ("k1", "k2")
    assert again.tokenize("x", "c") == KS2.tokenize("x", "c")


@pytest.mark.parametrize(
    ("primary", "keys"),
    [
        ("k1", {}),
        ("k1", {"k1": K1[:32]}),
        ("k1", {"k1": "x" * 64}),
        ("k2", {"k1": K1}),
        ("k 1", {"k 1": K1}),
    ],
)
def test_keyset_constructor_validates(primary: str, keys: Any) -> None:
    with pytest.raises(KeysetError):
        Keyset(primary, keys)


def test_repr_hides_keys() -> None:
    text = repr(KS2)
    assert "k1" in text and "k2" in text
    assert b64(K1)[:12] not in text and str(K1) not in text


def test_generate_and_rotate() -> None:
    a, b = Keyset.generate(), Keyset.generate("main")
    assert a.key_ids == ("k1",) and b.primary == "main"
    assert a.tokenize("x", "c") != Keyset.generate().tokenize("x", "c")
    with pytest.raises(KeysetError, match="already"):
        KS2.rotate("k1")
    with pytest.raises(KeysetError, match="invalid key id"):
        KS.rotate("no spaces")


def test_ephemeral_is_loud_once(capsys: pytest.CaptureFixture[str]) -> None:
    ks = Keyset.ephemeral()
    err = capsys.readouterr().err
    # One line, once: it used to go to warnings as well, and so was printed twice.
    assert err.count("ephemeral development keyset") == 1
    assert err.startswith("WARNING: ephemeral development keyset")
    assert "will not survive a restart" in err
    assert ks.detokenize(ks.tokenize(7, "c"), "c") == 7


# -- loading from the environment -------------------------------------------


def test_load_from_shim_keys() -> None:
    ks = load_keyset({"SHIM_KEYS": KS2.to_json()})
    assert ks.primary == "k2"


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(KS.to_json(), encoding="utf-8")
    assert load_keyset({"SHIM_KEYS_FILE": str(path)}).tokenize("x", "c") == KS.tokenize("x", "c")


def test_load_missing_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(KeysetError, match=r"nope\.json"):
        load_keyset({"SHIM_KEYS_FILE": str(path)})


def test_load_both_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeysetError, match="only one"):
        load_keyset({"SHIM_KEYS": KS.to_json(), "SHIM_KEYS_FILE": "x", "SHIM_DEV_KEYS": "1"})


@pytest.mark.parametrize(
    "env", [{}, {"SHIM_KEYS": ""}, {"SHIM_DEV_KEYS": "0"}, {"SHIM_DEV_KEYS": "yes"}]
)
def test_load_nothing_says_what_to_set(env: dict[str, str]) -> None:
    with pytest.raises(KeysetError) as info:
        load_keyset(env)
    message = str(info.value)
    for needle in ("SHIM_KEYS ", "SHIM_KEYS_FILE", "SHIM_DEV_KEYS=1", "ephemeral"):
        assert needle in message


def test_load_dev_keys(capsys: pytest.CaptureFixture[str]) -> None:
    ks = load_keyset({"SHIM_DEV_KEYS": "1"})
    assert ks.primary == "dev"
    assert capsys.readouterr().err.count("WARNING") == 1
    # An explicit keyset wins over the dev switch.
    assert load_keyset({"SHIM_DEV_KEYS": "1", "SHIM_KEYS": KS.to_json()}).primary == "k1"


def test_load_bad_json_from_env() -> None:
    with pytest.raises(KeysetError, match="not valid JSON"):
        load_keyset({"SHIM_KEYS": "nonsense"})


def test_current_install_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    install(KS)
    assert current() is KS
    reset()
    monkeypatch.setenv("SHIM_KEYS", KS2.to_json())
    monkeypatch.delenv("SHIM_KEYS_FILE", raising=False)
    loaded = current()
    assert loaded.primary == "k2"
    assert current() is loaded
    with pytest.raises(TypeError):
        install("not a keyset")  # type: ignore[arg-type]


def test_current_without_configuration_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHIM_KEYS", "SHIM_KEYS_FILE", "SHIM_DEV_KEYS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(KeysetError):
        current()


# -- command line -----------------------------------------------------------


def test_cli_new(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new"]) == 0
    assert Keyset.from_json(capsys.readouterr().out).key_ids == ("k1",)
    assert main(["new", "--id", "2024-06"]) == 0
    assert Keyset.from_json(capsys.readouterr().out).primary == "2024-06"
    assert main(["new", "--id", "bad id"]) == 2
    assert "invalid key id" in capsys.readouterr().err


def test_cli_rotate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.json"
    path.write_text(KS.to_json(), encoding="utf-8")
    assert main(["rotate", str(path), "--id", "k2"]) == 0
    rotated = Keyset.from_json(capsys.readouterr().out)
    assert rotated.primary == "k2"
    assert rotated.detokenize(KS.tokenize("x", "c"), "c") == "x"
    assert main(["rotate", str(path), "--id", "k1"]) == 2
    assert main(["rotate", str(tmp_path / "missing.json"), "--id", "k2"]) == 2
    assert "missing.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["rotate", str(path)])


def test_cli_runs_as_module() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "shimgen.runtime.core.keys", "new", "--id", "k7"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert Keyset.from_json(out).primary == "k7"


# -- errors -------------------------------------------------------------------


def test_translation_error_lists_problems() -> None:
    err = TranslationError(
        [Problem("/cards/0/number", "expected a string"), Problem("/id", "required")]
    )
    assert isinstance(err, ValueError)
    assert str(err) == "/cards/0/number: expected a string\n/id: required"
    assert err.problems[1] == Problem("/id", "required")


# -- the audit signing key -------------------------------------------------------------

SEED = bytes(range(32))
AUDITED = Keyset("k1", {"k1": K1}, keys_mod.AuditKey("a1", SEED))


def test_audit_key_round_trips_through_json() -> None:
    again = Keyset.from_json(AUDITED.to_json())
    assert again.audit_key.key_id == "a1"
    assert again.audit_key.public == AUDITED.audit_key.public
    assert again.audit_key.sign(b"m") == AUDITED.audit_key.sign(b"m")  # Ed25519 is deterministic
    assert keys_mod.verify_signature(again.audit_key.public, again.audit_key.sign(b"m"), b"m")
    assert not keys_mod.verify_signature(again.audit_key.public, again.audit_key.sign(b"m"), b"n")


def test_generated_keysets_have_an_audit_key() -> None:
    assert Keyset.generate().audit_key.key_id == "a1"
    assert Keyset.generate("k9", "audit9").audit_key.key_id == "audit9"
    assert Keyset.generate().rotate("k2").audit_key.key_id == "a1"  # rotation keeps it


def test_old_keyset_loads_but_has_no_audit_key() -> None:
    old = Keyset.from_json(KS.to_json())
    assert not old.has_audit_key and old.audit_public_keys() == {}
    with pytest.raises(KeysetError, match=r"no audit signing key; add one with `.* audit-key FILE"):
        old.audit_key  # noqa: B018


@pytest.mark.parametrize(
    "audit",
    [
        "a1",
        {"id": "a1"},
        {"id": "a1", "key": b64(SEED), "extra": 1},
        {"id": "bad id", "key": b64(SEED)},
        {"id": "a1", "key": b64(SEED[:31])},
        {"id": "a1", "key": "not base64!"},
        {"id": "a1", "key": b64(SEED), "retired": {"a0": b64(b"x" * 31)}},
        {"id": "a1", "key": b64(SEED), "retired": {"a1": b64(b"x" * 32)}},
        {"id": "a1", "key": b64(SEED), "retired": []},
    ],
)
def test_malformed_audit_member_is_refused_without_echoing_it(audit: Any) -> None:
    text = json.dumps({"primary": "k1", "keys": {"k1": b64(K1)}, "audit": audit})
    with pytest.raises(KeysetError) as info:
        Keyset.from_json(text)
    assert b64(SEED) not in str(info.value)


def test_repr_never_shows_the_audit_seed() -> None:
    assert b64(SEED) not in repr(AUDITED) and SEED.hex() not in repr(AUDITED)
    assert repr(AUDITED.audit_key) == "AuditKey(key_id='a1')"


def test_audit_key_cli_adds_then_rotates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(KS.to_json())
    assert main(["audit-key", str(path)]) == 0
    first = Keyset.from_json(capsys.readouterr().out)
    assert first.audit_key.key_id == "a1" and first.tokenize("x", "c") == KS.tokenize("x", "c")
    path.write_text(first.to_json())
    assert main(["audit-key", str(path)]) == 0
    second = Keyset.from_json(capsys.readouterr().out)
    assert second.audit_key.key_id == "a2"
    assert second.audit_public_keys()["a1"] == first.audit_key.public
    path.write_text(second.to_json())
    assert main(["audit-key", str(path), "--id", "a1"]) == 2  # a retired id is never reused
    assert "used before" in capsys.readouterr().err


def test_audit_public_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.json"
    path.write_text(AUDITED.to_json())
    assert main(["audit-public", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"audit_public": {"a1": b64(AUDITED.audit_key.public)}}
    assert keys_mod.public_audit_keys(json.dumps(printed)) == {"a1": AUDITED.audit_key.public}
    path.write_text(KS.to_json())
    assert main(["audit-public", str(path)]) == 2
    assert "no audit signing key" in capsys.readouterr().err
