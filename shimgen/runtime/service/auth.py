"""Who is calling, in which group, and how often: authentication and rate limits.

Requests send ``X-API-Key: <key>`` or ``Authorization: Bearer <jwt>`` (never
both) and name the group they act in with ``Shim-Group``. The callers file
that says who may call is read and validated by :mod:`.callers` at start-up,
so the per-request path here only hashes, compares and looks up.
``python -m <package> callers new-key`` makes an API key and its hash line.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import hmac
import math
import secrets
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence

import jwt

from ..core import command
from .callers import Caller, Callers, JwtConfig, RateLimit

__all__ = [
    "AuthError", "Authenticator", "Caller", "Callers", "FailedAuthLimiter", "JwtConfig",
    "RateLimit", "RateLimiter", "get_header", "hash_api_key", "main", "new_api_key", "select_group",
]  # fmt: skip

API_KEY_HEADER = "x-api-key"
AUTHORIZATION_HEADER = "authorization"
GROUP_HEADER = "shim-group"
_MAX_TOKEN = 16_384  # longer bearer values are refused before any parsing
_CMD = command("callers", "service.auth")  # the command that runs main() below


class AuthError(Exception):
    """A request is refused: 401 (no or bad credentials) or 403 (group not allowed).

    ``detail`` says what is wrong in general terms, never the key, token or
    claim values; for 401 ``www_authenticate`` is the challenge to send back.
    """

    def __init__(
        self, status: int, title: str, detail: str, www_authenticate: str | None = None
    ) -> None:
        super().__init__(status, title, detail, www_authenticate)
        self.status = status
        self.title = title
        self.detail = detail
        self.www_authenticate = www_authenticate

    @property
    def headers(self) -> dict[str, str]:
        """Response headers to send with the problem (the ``WWW-Authenticate`` challenge)."""
        return {"WWW-Authenticate": self.www_authenticate} if self.www_authenticate else {}

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"


class Authenticator:
    """Turns request headers into a :class:`Caller`, or raises :class:`AuthError` (401).

    API keys: the presented key's SHA-256 is compared with *every* stored digest
    using :func:`hmac.compare_digest` and no early exit, so the time taken says
    nothing about which key (if any) nearly matched. JWTs: signature, ``exp``,
    ``iss`` and ``aud`` are required and checked with the configured algorithms
    only; the key is loaded once, tokens are never cached.
    """

    __slots__ = (
        "_bad_token",
        "_challenge",
        "_declared",
        "_decoder",
        "_jwt",
        "_jwt_prefix",
        "_keys",
    )

    def __init__(self, callers: Callers, realm: str = "shim") -> None:
        self._keys = callers.api_keys
        self._jwt = callers.jwt
        # A JWT caller's identity names its issuer: never equal to an API-key caller's.
        self._jwt_prefix = f"jwt:{callers.jwt.issuer}#" if callers.jwt is not None else "jwt:"
        self._declared = callers.declared_groups
        self._decoder = jwt.PyJWT()
        realm = realm.replace("\\", "").replace('"', "")
        challenges = ['ApiKey header="X-API-Key"']
        if self._jwt is not None:
            challenges.append(f'Bearer realm="{realm}"')
        self._challenge = ", ".join(challenges)
        self._bad_token = f'Bearer realm="{realm}", error="invalid_token"'

    def _deny(self, detail: str, challenge: str | None = None) -> AuthError:
        return AuthError(401, "Unauthenticated", detail, challenge or self._challenge)

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """The caller named by ``X-API-Key`` or ``Authorization: Bearer`` (exactly one)."""
        return self.credentials(
            get_header(headers, API_KEY_HEADER), get_header(headers, AUTHORIZATION_HEADER)
        )

    def credentials(self, key: str | None, auth: str | None) -> Caller:
        """:meth:`authenticate` given the two header values (``None`` when absent)."""
        if key is not None:
            if auth is not None:
                raise self._deny("send either X-API-Key or Authorization, not both")
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
            found: Caller | None = None
            for stored, caller in self._keys:  # no early exit, see class docstring
                if hmac.compare_digest(stored, digest):
                    found = caller
            if found is None:
                raise self._deny("the API key is not valid")
            return found
        if auth is not None:
            return self._bearer(auth)
        raise self._deny("credentials required: send X-API-Key or Authorization: Bearer")

    def _bearer(self, value: str) -> Caller:
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._deny("the Authorization header must be 'Bearer <token>'")
        cfg = self._jwt
        if cfg is None:
            raise self._deny("bearer tokens are not accepted here; send X-API-Key")
        if len(token) > _MAX_TOKEN:
            raise self._deny("the bearer token is not valid", self._bad_token)
        try:
            claims = self._decoder.decode(
                token,
                cfg.key,
                algorithms=cfg.algorithms,
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway,
                options={"require": ["exp", "iss", "aud"], "verify_signature": True},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            why = next((w for t, w in _JWT_REASONS if isinstance(exc, t)), "is not valid")
            raise self._deny(f"the bearer token {why}", self._bad_token) from None
        # RFC 7519: the times are numbers; PyJWT also takes a numeric string for exp
        for claim in ("exp", "nbf", "iat"):
            when = claims.get(claim)
            if claim in claims and (type(when) not in (int, float)):
                raise self._deny(
                    f"the bearer token's '{claim}' claim is not a number", self._bad_token
                )
        name = claims.get(cfg.caller_claim)
        # no "#": it ends the issuer in the identity (jwt:<issuer>#<name>), and a subject
        # holding one could pass for another caller's name behind it; no space at either
        # end: " " named nobody, and "alice " was a second spelling of alice
        if (
            not isinstance(name, str)
            or not 0 < len(name) <= 256
            or not name.isprintable()
            or "#" in name
            or name != name.strip()
        ):
            why = f"'{cfg.caller_claim}' claim does not name a caller"
            raise self._deny(f"the bearer token's {why}", self._bad_token)
        raw = claims.get(cfg.groups_claim, ())
        if isinstance(raw, str) and cfg.groups_space_separated:
            raw = raw.split()  # only when the callers file says the IdP sends them so
        if not isinstance(raw, (list, tuple)) or not all(isinstance(g, str) for g in raw):
            why = f"'{cfg.groups_claim}' claim is not a list of group names"
            raise self._deny(f"the bearer token's {why}", self._bad_token)
        groups = self._declared.intersection(raw)
        return Caller(name, groups, "jwt", side=cfg.side, identity=f"{self._jwt_prefix}{name}")


# What to tell the caller for each PyJWT failure; claim names are fixed, never values.
_JWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "has expired"),
    (jwt.ImmatureSignatureError, "is not valid yet"),
    (jwt.InvalidAudienceError, "is not meant for this service (aud)"),
    (jwt.InvalidIssuerError, "is not from the trusted issuer (iss)"),
    (jwt.MissingRequiredClaimError, "lacks a required claim (exp, iss and aud are required)"),
)


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Header ``name`` (given in lower case) from any mapping, case-insensitively.

    Starlette's ``Headers`` (anything with ``getlist``) is case-insensitive
    already; a plain dict is tried with the lower-case name and then scanned.
    """
    value = headers.get(name)
    if value is not None or hasattr(headers, "getlist"):
        return value
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


def select_group(caller: Caller, header_value: str | None, declared_groups: Collection[str]) -> str:
    """The group named by the ``Shim-Group`` header, if ``caller`` may act in it; else 403.

    A request without the header is refused too (deny by default): the group
    picks the view, so the shim never guesses one for the caller.
    """
    group = header_value.strip() if header_value is not None else ""
    if not group:
        raise AuthError(403, "Group required", "name one of your groups in the Shim-Group header")
    if group not in declared_groups:
        names = ", ".join(sorted(declared_groups))
        raise AuthError(
            403,
            "Unknown group",
            f"the Shim-Group header names no group of this service (groups: {names})",
        )
    if group not in caller.groups:
        raise AuthError(
            403, "Group not allowed", "the caller is not a member of the group named in Shim-Group"
        )
    return group


class RateLimiter:
    """Token bucket per caller: ``rate`` tokens per second refill up to ``burst``.

    A bucket that has refilled completely is indistinguishable from a new one,
    so such idle buckets are evicted when more than ``max_buckets`` exist;
    memory stays bounded without giving anyone a fresh burst early. Only if
    every bucket is busy are the least recently used ones dropped. Rate 0 is
    unlimited. The lock makes it safe from threads; it is never held long.
    """

    __slots__ = ("_buckets", "_clock", "_lock", "burst", "max_buckets", "rate")

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 10_000,
    ) -> None:
        if not math.isfinite(rate) or rate < 0 or burst < 1 or max_buckets < 1:
            raise ValueError("rate must be >= 0, burst and max_buckets >= 1")
        self.rate = float(rate)
        self.burst = int(burst)
        self.max_buckets = max_buckets
        self._clock = clock
        self._lock = threading.Lock()
        # name -> [tokens, last use, rate, burst]; eviction orders by last use (no reordering
        # of the dict on every request)
        self._buckets: dict[str, list[float]] = {}

    def retry_after(
        self, caller_name: str, rate: float | None = None, burst: int | None = None
    ) -> float | None:
        """None if the request may go ahead (a token is taken), else seconds until one is free."""
        return self._take(
            caller_name,
            self.rate if rate is None else rate,
            self.burst if burst is None else burst,
        )

    def for_caller(self, caller: Caller) -> float | None:
        """:meth:`retry_after` with the caller's own rate limit, if the callers file sets one.

        The bucket is the caller's ``identity`` (``key:<name>``, ``jwt:<issuer>#<sub>``),
        so a JWT subject named like an API-key caller never drains that caller's bucket.
        """
        return self._take(caller.identity, *self.limit_of(caller))

    def limit_of(self, caller: Caller) -> tuple[float, int]:
        """``(rate, burst)`` for ``caller``: its own from the callers file, else the default."""
        limit = caller.rate_limit
        if limit is None:
            return self.rate, self.burst
        return limit.per_second, limit.burst

    def settle(self, name: str, tokens: float, rate: float, burst: int) -> None:
        """Lower the bucket ``name`` to at most ``tokens`` now: the count the shared store's
        bucket reported (:mod:`.shared`), so that a fallback to this limiter continues from
        the shared state instead of handing this process a fresh burst."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(name)
            if bucket is None:
                if len(self._buckets) >= self.max_buckets:
                    self._evict(now)
                self._buckets[name] = [min(tokens, burst), now, rate, burst]
                return
            held = bucket[0] + max(0.0, now - bucket[1]) * rate
            bucket[:] = [min(held, tokens, burst), now, rate, burst]

    def _take(self, name: str, rate: float, burst: float) -> float | None:
        if rate <= 0:
            return None
        lock = self._lock
        lock.acquire()  # cheaper than `with` on this path
        try:
            now = self._clock()
            buckets = self._buckets
            bucket = buckets.get(name)
            if bucket is None:
                if len(buckets) >= self.max_buckets:
                    self._evict(now)
                tokens = burst
                bucket = buckets[name] = [burst, now, rate, burst]
            else:
                tokens = bucket[0]
                elapsed = now - bucket[1]
                if elapsed > 0.0:  # a clock going backwards adds nothing
                    tokens += elapsed * rate
                if tokens > burst:
                    tokens = burst
                bucket[1] = now
                bucket[2] = rate
                bucket[3] = burst
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return None
            bucket[0] = tokens
            return (1.0 - tokens) / rate
        finally:
            lock.release()

    def __len__(self) -> int:
        return len(self._buckets)

    def _evict(self, now: float) -> None:
        full = [k for k, (t, last, r, b) in self._buckets.items() if t + (now - last) * r >= b]
        for key in full:
            del self._buckets[key]
        excess = len(self._buckets) - (self.max_buckets * 9) // 10
        if excess > 0:  # least recently used first: smallest last use, then oldest bucket
            for key, _ in heapq.nsmallest(excess, self._buckets.items(), key=_last_use):
                del self._buckets[key]


class FailedAuthLimiter:
    """Requests that fail authentication, counted per client address (a token bucket each).

    Once an address has spent its bucket on failures, its failing requests get
    429 (with ``Retry-After``) instead of 401: credential guessing is answered as
    throttled, visible in the metrics and logs, and never at full speed as a
    plain 401. A request with valid credentials is never refused by this limit,
    so callers sharing an address with a guesser (behind one proxy or NAT) are
    not locked out; it spends nothing from the bucket either.
    """

    __slots__ = ("_limiter",)

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 10_000,
    ) -> None:
        self._limiter = RateLimiter(limit.per_second, limit.burst, clock, max_buckets)

    def failed(self, address: str) -> float | None:
        """Count one failure for ``address``: None (answer 401) or seconds to wait (429)."""
        return self._limiter.retry_after(address)


def _last_use(item: tuple[str, list[float]]) -> float:
    return item[1][1]


def hash_api_key(key: str) -> str:
    """The callers-file line for ``key``: ``sha256:`` and the hex SHA-256 of its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh random API key (256 bits, URL-safe) and its hash line for the callers file."""
    key = secrets.token_urlsafe(32)
    return key, hash_api_key(key)


def main(argv: Sequence[str] | None = None) -> int:
    """``new-key`` prints a new API key and its hash line; ``hash`` hashes a key read from stdin."""
    parser = argparse.ArgumentParser(prog=_CMD, description="Make API keys for the callers file.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("new-key", help="print a new API key and its hash line for the callers file")
    sub.add_parser("hash", help="print the hash line of an existing key read from stdin")
    if parser.parse_args(argv).command == "hash":
        key = sys.stdin.readline().strip()
        if not key:
            print("error: no key on stdin", file=sys.stderr)
            return 2
        print(hash_api_key(key))
        return 0
    key, digest = new_api_key()
    print("# Give the key to the caller (sent as X-API-Key); put only the hash under its api_keys.")
    print(f"key:  {key}")
    print(f"hash: {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
