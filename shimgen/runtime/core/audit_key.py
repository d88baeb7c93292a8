"""The audit signing key of a keyset: Ed25519, for signing audit checkpoints.

Kept apart from :mod:`.keys` (tokens and hashes) because it serves another
purpose: it signs the audit trail's checkpoints (:mod:`.audit_checkpoint`),
so that whoever can write the audit store cannot forge, rewrite or cut the
trail unnoticed. Ed25519 rather than HMAC: checking a checkpoint needs only
the public half, so an auditor, a SIEM or the checkpoint store can verify
without being able to sign. In the keyset JSON it is the member
``"audit": {"id": "a1", "key": "<base64 of a 32-byte seed>", "retired": {...}}``,
``retired`` holding the public halves of earlier audit keys so that older
checkpoints still verify.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import command
from .errors import KeysetError

__all__ = [
    "AUDIT_KEY_BYTES",
    "DEFAULT_AUDIT_ID",
    "KEY_ID_RE",
    "AuditKey",
    "b64",
    "parse_audit_member",
    "parse_public_keys",
    "verify_signature",
]

AUDIT_KEY_BYTES = 32
DEFAULT_AUDIT_ID = "a1"
#: Key ids, for token keys and audit keys alike.
KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)
_ID_RULE = "key ids are 1-32 characters from A-Z, a-z, 0-9, '_' and '-'"
_CMD = command("keys", "core.keys")
_HOW_TO_FIX = f"make a keyset with `{_CMD} new`, or add an audit key with `{_CMD} audit-key FILE`"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    try:
        if not isinstance(text, str):
            raise TypeError
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise KeysetError(f"{what} is not a standard base64 string; {_HOW_TO_FIX}") from None


class AuditKey:
    """The Ed25519 key that signs audit checkpoints, with the id checkpoints name it by.

    ``repr`` never shows the private half.
    """

    __slots__ = ("_private", "key_id", "public")

    def __init__(self, key_id: str, seed: bytes) -> None:
        if not isinstance(key_id, str) or KEY_ID_RE.fullmatch(key_id) is None:
            raise KeysetError(f"the keyset's audit key has an invalid id; {_ID_RULE}")
        if not isinstance(seed, bytes) or len(seed) != AUDIT_KEY_BYTES:
            raise KeysetError(
                f"the audit key {key_id!r} must be exactly {AUDIT_KEY_BYTES} random bytes "
                f"(an Ed25519 seed); {_HOW_TO_FIX}"
            )
        self.key_id = key_id
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = self._private.public_key().public_bytes_raw()

    @classmethod
    def generate(cls, key_id: str = DEFAULT_AUDIT_ID) -> AuditKey:
        return cls(key_id, os.urandom(AUDIT_KEY_BYTES))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def seed(self) -> bytes:
        return self._private.private_bytes_raw()

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id!r})"


def verify_signature(public: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``public``'s Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_audit_member(raw: object) -> tuple[AuditKey | None, dict[str, bytes]]:
    """Parse the keyset's ``audit`` member: ``{"id", "key", "retired"?}``."""
    if raw is None:
        return None, {}
    if (
        not isinstance(raw, dict)
        or "id" not in raw
        or "key" not in raw
        or set(raw)
        - {
            "id",
            "key",
            "retired",
        }
    ):
        raise KeysetError(
            'the keyset\'s "audit" must be {"id": "<key id>", "key": "<base64 of 32 bytes>", '
            '"retired": {"<key id>": "<base64 public key>"}} (retired optional)'
        )
    kid = raw["id"]
    if not isinstance(kid, str) or KEY_ID_RE.fullmatch(kid) is None:
        raise KeysetError(f"the keyset's audit key has an invalid id; {_ID_RULE}")
    audit = AuditKey(kid, _unb64(raw["key"], f"audit key {kid!r}"))
    retired_raw = raw.get("retired", {})
    if not isinstance(retired_raw, dict):
        raise KeysetError('the keyset\'s audit "retired" must map key ids to public keys')
    retired = {}
    for rid, b64 in retired_raw.items():
        if KEY_ID_RE.fullmatch(rid) is None:
            raise KeysetError(f"the keyset has an invalid retired audit key id; {_ID_RULE}")
        retired[rid] = _unb64(b64, f"retired audit key {rid!r}")
    return audit, retired


def parse_public_keys(raw: object) -> dict[str, bytes]:
    """Parse ``{"<key id>": "<base64 public key>"}`` (what ``keys audit-public`` prints)."""
    if not isinstance(raw, dict) or not raw:
        raise KeysetError('"audit_public" must map audit key ids to base64 public keys')
    out = {}
    for kid, text in raw.items():
        public = _unb64(text, f"audit public key {kid!r}")
        if KEY_ID_RE.fullmatch(kid) is None or len(public) != AUDIT_KEY_BYTES:
            raise KeysetError(
                f"audit public key {kid!r} must be {AUDIT_KEY_BYTES} bytes; {_ID_RULE}"
            )
        out[kid] = public
    return out
