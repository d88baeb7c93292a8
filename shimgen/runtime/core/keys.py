"""Keyset, tokens and keyed hashes for the ``tokenize`` and ``hash`` treatments.

Keys never appear in mapping files or generated code: a shim reads its keyset
at start-up from ``SHIM_KEYS`` (JSON) or ``SHIM_KEYS_FILE`` (a path), see
:meth:`Keyset.from_json`. New tokens and hashes use the primary key; a token
carries its key id, so tokens made under ``k1`` still detokenize after ``k2``
becomes primary.

Each key is expanded with HKDF-SHA256 into separate subkeys for AES-SIV tokens
and HMAC hashes, so the two treatments never share key material. Tokens are
deterministic (equal values give equal tokens, so partners can join on them)
and bound to their field by associated data, so a token for one field or shim
never detokenizes as another. ``python -m <package> keys new`` makes a
keyset, ``... rotate FILE --id k2`` rotates one.

The keyset also holds the **audit signing key** (member ``audit``, see
:mod:`.audit_key`), which signs the audit trail's checkpoints. ``... audit-key
FILE`` adds one to an older keyset or rotates it; ``... audit-public FILE``
prints the public keys for whoever runs ``audit verify``. A service refuses to
start with a keyset that has none (:attr:`Keyset.audit_key`).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import command
from .audit_key import (
    AUDIT_KEY_BYTES,
    DEFAULT_AUDIT_ID,
    KEY_ID_RE,
    AuditKey,
    b64,
    parse_audit_member,
    parse_public_keys,
    verify_signature,
)
from .errors import KeysetError, TokenError

__all__ = [
    "AuditKey",
    "Keyset",
    "current",
    "install",
    "load_keyset",
    "main",
    "public_audit_keys",
    "reset",
    "verify_signature",
]

KEY_BYTES = 64
TOKEN_PREFIX = "t1."
_TOKEN_INFO = b"shimgen token v1"
_HASH_INFO = b"shimgen hash v1"
_TOKEN_AD = b"shimgen-token-v1"
_KEY_ID_RE = KEY_ID_RE
# AES-SIV adds a 16-byte synthetic IV; the plaintext is at least the type tag.
_MIN_CIPHERTEXT = 17
_REFUSED = "not a token of this field made by this shim"
"""The one message for every token that does not detokenize: which check failed (an
unknown key id, another field's token, a malformed one) would tell a caller which key
ids the keyset holds; that detail is :attr:`TokenError.reason`, never the message."""

_CMD = command("keys", "core.keys")  # the command that runs main() below
_HOW_TO_GENERATE = f"make a keyset with `{_CMD} new > keys.json`"  # as the package README does
_SHAPE = (
    '{"primary": "<key id>", "keys": {"<key id>": "<base64 of 64 random bytes>"}, '
    '"audit": {"id": "<key id>", "key": "<base64 of a 32-byte Ed25519 seed>"}}'
)
_HOW_TO_ADD_AUDIT = (
    f"add one with `{_CMD} audit-key FILE > NEW_FILE` and deploy NEW_FILE "
    "(keysets made before audit checkpoints existed have none)"
)
_ID_RULE = "key ids are 1-32 characters from A-Z, a-z, 0-9, '_' and '-'"


def _derive(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


def _tag(value: object, allow_float: bool) -> bytes:
    """Encode ``value`` with a type tag so that ``"1"`` and ``1`` never collide."""
    if isinstance(value, str):
        try:
            return b"s" + value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("value is not valid Unicode text") from None
    if isinstance(value, bool):
        raise ValueError("booleans cannot be tokenized or hashed")
    if isinstance(value, int):
        return b"i" + str(value).encode("ascii")
    if allow_float and isinstance(value, float):
        return b"f" + repr(value).encode("ascii")
    if allow_float:
        raise ValueError("value must be a string, an integer or a float")
    raise ValueError("value must be a string or an integer")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """JSON object hook: a repeated key id would silently drop a key, so refuse it."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise KeysetError("the keyset JSON repeats a field or key id; each may appear once")
    return result


class Keyset:
    """A set of named 64-byte keys, one of which (the primary) makes new output.

    Subkeys and AES-SIV objects are derived once here, so ``tokenize``,
    ``detokenize`` and ``hash`` do no key setup per call. ``repr`` never shows
    key material.
    """

    __slots__ = ("_audit", "_hash_key", "_keys", "_primary", "_retired", "_siv", "_sivs")

    def __init__(
        self,
        primary: str,
        keys: Mapping[str, bytes],
        audit: AuditKey | None = None,
        retired: Mapping[str, bytes] | None = None,
    ) -> None:
        if not isinstance(keys, Mapping) or not keys:
            raise KeysetError(f"the keyset has no keys; {_HOW_TO_GENERATE}")
        for kid, key in keys.items():
            if not isinstance(kid, str) or _KEY_ID_RE.fullmatch(kid) is None:
                raise KeysetError(f"the keyset has an invalid key id; {_ID_RULE}")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                size = f"{len(key)} bytes" if isinstance(key, bytes) else "not bytes"
                raise KeysetError(
                    f"key {kid!r} is {size}; each key must be exactly {KEY_BYTES} random "
                    f"bytes; {_HOW_TO_GENERATE}"
                )
        if not isinstance(primary, str) or _KEY_ID_RE.fullmatch(primary) is None:
            raise KeysetError(f"the keyset's primary is not a valid key id; {_ID_RULE}")
        if primary not in keys:
            raise KeysetError(
                f"the keyset's primary {primary!r} is not one of its keys "
                f"({', '.join(sorted(keys))}); set primary to one of them"
            )
        self._primary = primary
        self._keys: dict[str, bytes] = dict(keys)
        self._sivs: dict[str, AESSIV] = {
            kid: AESSIV(_derive(key, _TOKEN_INFO, 64)) for kid, key in self._keys.items()
        }
        self._siv = self._sivs[primary]
        self._hash_key = _derive(self._keys[primary], _HASH_INFO, 32)
        self._audit = audit
        self._retired: dict[str, bytes] = dict(retired or {})
        for kid, public in self._retired.items():
            if _KEY_ID_RE.fullmatch(kid) is None or len(public) != AUDIT_KEY_BYTES:
                raise KeysetError(
                    f"the keyset's retired audit keys must map key ids to {AUDIT_KEY_BYTES}-byte "
                    f"Ed25519 public keys; {_ID_RULE}"
                )
        if audit is not None and audit.key_id in self._retired:
            raise KeysetError(
                f"audit key id {audit.key_id!r} is also a retired audit key; choose a new id"
            )

    @property
    def primary(self) -> str:
        """Id of the key that makes new tokens and hashes."""
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of every key, including retired ones kept to read old tokens."""
        return tuple(self._keys)

    @property
    def audit_key(self) -> AuditKey:
        """The key that signs audit checkpoints; :class:`KeysetError` if the keyset has none.

        A service calls this at start-up, so an old keyset stops it with a
        message saying how to add the key: there is no unsigned mode.
        """
        if self._audit is None:
            raise KeysetError(f"the keyset has no audit signing key; {_HOW_TO_ADD_AUDIT}")
        return self._audit

    @property
    def has_audit_key(self) -> bool:
        return self._audit is not None

    def audit_public_keys(self) -> dict[str, bytes]:
        """Every audit public key by id (the current one and retired ones): what ``verify`` needs."""
        out = dict(self._retired)
        if self._audit is not None:
            out[self._audit.key_id] = self._audit.public
        return out

    def with_audit_key(self, key_id: str) -> Keyset:
        """A copy with a new audit signing key ``key_id``; the old one's public half is retired."""
        retired = dict(self._retired)
        if self._audit is not None:
            if key_id == self._audit.key_id:
                raise KeysetError(
                    f"audit key id {key_id!r} is the current audit key; choose a new id"
                )
            retired[self._audit.key_id] = self._audit.public
        if key_id in retired:
            raise KeysetError(f"audit key id {key_id!r} was used before; choose a new id")
        return Keyset(self._primary, self._keys, AuditKey.generate(key_id), retired)

    def __repr__(self) -> str:
        audit = self._audit.key_id if self._audit is not None else None
        return f"Keyset(primary={self._primary!r}, key_ids={list(self._keys)!r}, audit={audit!r})"

    # -- construction -------------------------------------------------------

    @classmethod
    def from_json(cls, text: str) -> Keyset:
        """Parse ``{"primary": "k2", "keys": {"k1": "<base64 of 64 bytes>", ...}}``.

        Every problem is a :class:`KeysetError` that says how to fix it and
        never echoes key material.
        """
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise KeysetError(
                f"the keyset is not valid JSON (line {exc.lineno}, column {exc.colno}); "
                + _HOW_TO_GENERATE
            ) from None
        if not isinstance(data, dict) or set(data) - {"primary", "keys", "audit"}:
            raise KeysetError(f"the keyset must be a JSON object {_SHAPE}")
        if "primary" not in data:
            raise KeysetError("the keyset has no 'primary'; set it to the id of the newest key")
        raw = data.get("keys")
        if not isinstance(raw, dict) or not raw:
            raise KeysetError(f"the keyset's 'keys' is missing or empty; {_HOW_TO_GENERATE}")
        keys: dict[str, bytes] = {}
        for kid, text in raw.items():
            if _KEY_ID_RE.fullmatch(kid) is None:
                raise KeysetError(f"the keyset has an invalid key id; {_ID_RULE}")
            try:
                keys[kid] = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise KeysetError(
                    f"key {kid!r} is not a standard base64 string; {_HOW_TO_GENERATE}"
                ) from None
        audit, retired = parse_audit_member(data.get("audit"))
        return cls(data["primary"], keys, audit, retired)

    def to_json(self) -> str:
        """Serialise to the keyset JSON format (one line, fit for an env var)."""
        data: dict[str, object] = {
            "primary": self._primary,
            "keys": {kid: b64(key) for kid, key in self._keys.items()},
        }
        if self._audit is not None:
            audit: dict[str, object] = {"id": self._audit.key_id, "key": b64(self._audit.seed())}
            if self._retired:
                audit["retired"] = {kid: b64(pub) for kid, pub in self._retired.items()}
            data["audit"] = audit
        return json.dumps(data)

    @classmethod
    def generate(cls, key_id: str = "k1", audit_id: str = DEFAULT_AUDIT_ID) -> Keyset:
        """A new keyset with one random key and an audit signing key."""
        return cls(key_id, {key_id: os.urandom(KEY_BYTES)}, AuditKey.generate(audit_id))

    def rotate(self, new_id: str) -> Keyset:
        """A copy with a new random key ``new_id`` as primary; old keys stay to read old tokens.

        The audit key is kept (rotate it with :meth:`with_audit_key`).
        """
        if new_id in self._keys:
            raise KeysetError(f"key id {new_id!r} is already in the keyset; choose a new id")
        return Keyset(
            new_id, {**self._keys, new_id: os.urandom(KEY_BYTES)}, self._audit, self._retired
        )

    @classmethod
    def ephemeral(cls, chosen_by: str = "SHIM_DEV_KEYS=1") -> Keyset:
        """A random in-memory keyset for development, announced loudly.

        ``chosen_by`` is what the user did to ask for it (the variable, or
        ``--dev-keys`` of ``shimgen translate``), so the warning names it.

        Tokens made with it cannot be reversed after a restart or by another
        replica, so it must never be used in production. The warning is one
        line written straight to stderr (not through ``warnings``, which would
        print it a second time, or not at all when warnings are filtered).
        """
        message = (
            f"ephemeral development keyset in use ({chosen_by}): tokens will not "
            "survive a restart; set SHIM_KEYS or SHIM_KEYS_FILE for real use"
        )
        sys.stderr.write(f"WARNING: {message}\n")
        sys.stderr.flush()
        return cls.generate("dev", "dev-audit")

    # -- treatments -------------------------------------------------------------

    def tokenize(self, value: str | int, context: str) -> str:
        """Deterministic AES-SIV token for ``value`` in field ``context`` (e.g. ``"customer:id"``)."""
        ct = self._siv.encrypt(_tag(value, False), [_TOKEN_AD, context.encode("utf-8")])
        return (
            TOKEN_PREFIX
            + self._primary
            + "."
            + base64.urlsafe_b64encode(ct).rstrip(b"=").decode("ascii")
        )

    def detokenize(self, token: str, context: str) -> str | int:
        """Reverse :meth:`tokenize` with whichever key made the token.

        Raises :class:`TokenError` if the token is malformed, names an unknown
        key, or does not authenticate for ``context`` (another field or shim,
        or altered): always with the same message, the failed check in
        ``reason``. Messages never contain the token.
        """
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
            raise TokenError(_REFUSED, "malformed")
        kid, _, body = token[len(TOKEN_PREFIX) :].partition(".")
        try:
            ct = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            raise TokenError(_REFUSED, "malformed") from None
        # Only the canonical spelling is accepted, so one ciphertext has one token.
        if len(ct) < _MIN_CIPHERTEXT or base64.urlsafe_b64encode(ct).rstrip(b"=") != body.encode():
            raise TokenError(_REFUSED, "malformed")
        siv = self._sivs.get(kid)
        if siv is None:
            raise TokenError(_REFUSED, "unknown-key")
        try:
            plain = siv.decrypt(ct, [_TOKEN_AD, context.encode("utf-8")])
        except InvalidTag:
            raise TokenError(_REFUSED, "not-this-field") from None
        tag, payload = plain[:1], plain[1:]
        try:
            if tag == b"s":
                return payload.decode("utf-8")
            if tag == b"i":
                return int(payload)
        except ValueError:
            pass
        raise TokenError(_REFUSED, "unknown-type")

    def hash(self, value: str | int | float, context: str, length: int = 32) -> str:
        """Keyed HMAC-SHA256 pseudonym of ``value`` in ``context``, lowercase hex.

        Context-separated so equal values in different fields do not link.
        ``length`` (1-64) truncates the hex digest.
        """
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 64:
            raise ValueError("hash length must be an integer from 1 to 64")
        msg = context.encode("utf-8") + b"\x00" + _tag(value, True)
        return hmac.digest(self._hash_key, msg, "sha256").hex()[:length]


def public_audit_keys(text: str) -> dict[str, bytes]:
    """Audit public keys from a keyset JSON or from ``{"audit_public": {id: base64}}``.

    The second form is what ``audit-public`` prints: enough to verify
    checkpoints, useless for signing them.
    """
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise KeysetError(
            f"the key file is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if isinstance(data, dict) and set(data) == {"audit_public"}:
        return parse_public_keys(data["audit_public"])
    keys = Keyset.from_json(text).audit_public_keys()
    if not keys:
        raise KeysetError(f"the keyset has no audit signing key; {_HOW_TO_ADD_AUDIT}")
    return keys


def load_keyset(environ: Mapping[str, str] | None = None) -> Keyset:
    """Load the keyset from ``SHIM_KEYS`` or ``SHIM_KEYS_FILE`` (exactly one).

    With neither set, ``SHIM_DEV_KEYS=1`` gives an ephemeral development
    keyset; otherwise the shim refuses to start, saying what to set.
    """
    env = os.environ if environ is None else environ
    text = env.get("SHIM_KEYS") or None
    path = env.get("SHIM_KEYS_FILE") or None
    if text is not None and path is not None:
        raise KeysetError("both SHIM_KEYS and SHIM_KEYS_FILE are set; set only one of them")
    if path is not None:
        text = _read_file(path)
    if text is None:
        if env.get("SHIM_DEV_KEYS") == "1":
            return Keyset.ephemeral()
        raise KeysetError(
            "no keyset configured: set SHIM_KEYS to the keyset JSON or SHIM_KEYS_FILE to the "
            f"path of a keyset JSON file ({_HOW_TO_GENERATE}); for local development only, "
            "SHIM_DEV_KEYS=1 gives an ephemeral development keyset"
        )
    return Keyset.from_json(text)


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable"
        raise KeysetError(f"cannot read keyset file {path!r}: {reason}") from None


_current: Keyset | None = None
_lock = threading.Lock()


def install(keyset: Keyset) -> None:
    """Make ``keyset`` the one generated code uses (e.g. at service start-up)."""
    global _current
    if not isinstance(keyset, Keyset):
        raise TypeError("install() expects a Keyset")
    _current = keyset


def current() -> Keyset:
    """The installed keyset, loaded from the environment on first use."""
    ks = _current
    if ks is not None:
        return ks
    return _load_current()


def _load_current() -> Keyset:
    global _current
    with _lock:
        if _current is None:
            _current = load_keyset()
        return _current


def reset() -> None:
    """Forget the installed keyset (for tests)."""
    global _current
    _current = None


def main(argv: Sequence[str] | None = None) -> int:
    """``new``, ``rotate FILE --id ID``, ``audit-key FILE [--id ID]``, ``audit-public FILE``."""
    parser = argparse.ArgumentParser(prog=_CMD, description="Create and rotate shim keysets.")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="print a new keyset JSON (one random key, one audit key)")
    new.add_argument("--id", default="k1", help="key id (default: k1)")
    new.add_argument(
        "--audit-id", default=DEFAULT_AUDIT_ID, help="audit signing key id (default: a1)"
    )
    rot = sub.add_parser("rotate", help="print FILE's keyset with a new primary key")
    rot.add_argument("file", metavar="FILE", help="keyset JSON file")
    rot.add_argument("--id", required=True, help="id of the new primary key")
    aud = sub.add_parser(
        "audit-key",
        help="print FILE's keyset with a new audit signing key (the old one's public half "
        "is kept under retired, so older checkpoints still verify)",
    )
    aud.add_argument("file", metavar="FILE", help="keyset JSON file")
    aud.add_argument("--id", help="id of the new audit key (default: a1, or the next free aN)")
    pub = sub.add_parser(
        "audit-public", help="print the audit public keys of FILE's keyset, for `audit verify`"
    )
    pub.add_argument("file", metavar="FILE", help="keyset JSON file")
    args = parser.parse_args(argv)
    try:
        if args.command == "new":
            keyset = Keyset.generate(args.id, args.audit_id)
        elif args.command == "rotate":
            keyset = Keyset.from_json(_read_file(args.file)).rotate(args.id)
        elif args.command == "audit-key":
            old = Keyset.from_json(_read_file(args.file))
            keyset = old.with_audit_key(args.id or _next_audit_id(old))
        else:
            public = public_audit_keys(_read_file(args.file))
            print(json.dumps({"audit_public": {kid: b64(p) for kid, p in public.items()}}))
            return 0
    except KeysetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(keyset.to_json())
    return 0


def _next_audit_id(keyset: Keyset) -> str:
    used = keyset.audit_public_keys()
    n = 1
    while f"a{n}" in used:
        n += 1
    return f"a{n}"


if __name__ == "__main__":
    raise SystemExit(main())
