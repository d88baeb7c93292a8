"""The callers file: who may call the shim, in which groups, and which JWTs it trusts.

The callers file (``SHIM_CALLERS_FILE``) lists the API-key callers and, optionally,
the identity provider whose JWTs the shim trusts::

    callers:
      - name: partner-portal            # [a-z0-9][a-z0-9._-]*, unique
        side: external                  # internal | external [external]
        groups: [support]               # each must be a group of the mapping
        api_keys:                       # SHA-256 of each key, never the key itself
          - sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        rate_limit: {per_second: 20, burst: 40}   # optional, overrides the service default
        description: Partner portal, owned by team X   # optional, for the reader
    jwt:                                # optional
      issuer: https://idp.example.com/
      audience: customer-shim
      algorithms: [RS256]               # fixed list; 'none' and mixing HMAC with public-key algs refused
      public_key_file: /etc/shim/idp.pem   # for RS*/PS*/ES*/EdDSA (PEM key or certificate;
                                           # relative paths are relative to the callers file)
      secret_env: SHIM_JWT_SECRET          # for HS*; the secret itself lives in the environment
      side: external                    # the side of every caller of this issuer [external]
      groups_claim: groups              # a list of strings [groups]
      groups_format: list               # list | space-separated: a string claim is refused
                                        # unless the IdP is declared to send one [list]
      caller_claim: sub                 # claim naming the caller [sub]
      leeway: 30                        # seconds of clock skew tolerated [30]
    failed_auth: {per_second: 1, burst: 20}   # optional: failed authentications allowed per
                                              # client address; then 429, not 401 [1, 20]

A caller listed for an **elevated group** whose mapping names ``beyond: G`` must
be listed for ``G`` too: the review showed approvers only what a grant reveals
beyond ``G``, which understates the grant for a caller that does not act in
``G`` every day, so such a file is refused at start-up (the caller, the line
and the fix named). JWT callers' groups come with each token: the grant
endpoints and the gate check them on every request (``Access._beyond``).

A caller's **side** says which domain it belongs to. External callers (the
default, so forgetting the key never opens the wall) reach only the proxy
routes; the translation endpoints carry internal values one way or the other
and serve ``side: internal`` callers only. A caller's audit name and rate bucket
say how it authenticated (``key:<name>``, ``jwt:<issuer>#<sub>``), so a JWT
subject can never pass for an API-key caller of the same name.

Only hashes are stored, so a leaked callers file (or repository) grants nothing;
``python -m <package> callers new-key`` makes a key and its hash line.
Everything is checked at load time (:meth:`Callers.load`), so the per-request
path in :mod:`.auth` only hashes, compares and looks up.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ..core import command
from .settings import ConfigError

__all__ = ["SIDES", "Caller", "Callers", "JwtConfig", "RateLimit"]

Side = Literal["internal", "external"]
SIDES: tuple[Side, ...] = ("internal", "external")
GROUPS_FORMATS = ("list", "space-separated")

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)
_HASH_RE = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_NEW_KEY = command("callers", "service.auth") + " new-key"


def _rsa(key: object) -> bool:
    return isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048


def _curve(curve: type[ec.EllipticCurve]) -> Callable[[object], bool]:
    return lambda key: isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, curve)


# Public-key algorithm -> does a key fit it? Checked at load time, so a key of the
# wrong kind is a start-up error rather than every token failing at run time.
_PUBLIC_ALGS: dict[str, Callable[[object], bool]] = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), _rsa),
    "ES256": _curve(ec.SECP256R1),
    "ES384": _curve(ec.SECP384R1),
    "ES512": _curve(ec.SECP521R1),
    "EdDSA": lambda k: isinstance(k, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)),
}
_KEY_RULE = (
    "RS*/PS* need an RSA key of 2048 bits or more, ES256/384/512 a P-256/384/521 key, "
    "EdDSA an Ed25519 or Ed448 key"
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A caller's own rate: ``per_second`` tokens refill a bucket of ``burst``."""

    per_second: float
    burst: int


FAILED_AUTH = RateLimit(1.0, 20)
"""Failed authentications allowed per client address: 20 at once, then one a second."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller; ``groups`` are only groups the mapping declares.

    ``identity`` is the name the audit trail and the rate limiter use: it says how
    the caller authenticated (``key:<name>``, ``jwt:<issuer>#<sub>``), so two
    ways of authenticating never share one audit name or one rate bucket.
    ``subject`` is whom heuristic tracking knows: the side and the exact name
    (``internal:alice`` for ``key:alice`` and for a JWT whose subject is
    ``alice``), so a second credential of the same name starts no fresh
    baseline and escapes no ``deny``. Nothing is folded (case, Unicode forms)
    and the sides never meet: a look-alike name, or a partner's key named like
    an employee, must not be able to get that person denied.
    """

    name: str
    groups: frozenset[str]
    kind: Literal["api_key", "jwt"]
    rate_limit: RateLimit | None = None  # None: the service default applies
    side: Side = "external"
    identity: str = ""  # "": made from kind and name
    subject: str = field(default="", compare=False)  # made from side and name

    def __post_init__(self) -> None:
        if not self.identity:
            prefix = "key" if self.kind == "api_key" else "jwt"
            object.__setattr__(self, "identity", f"{prefix}:{self.name}")
        object.__setattr__(self, "subject", f"{self.side}:{self.name}")

    @property
    def internal(self) -> bool:
        """Whether the caller belongs to the internal domain (may use the translation endpoints)."""
        return self.side == "internal"


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """The trusted identity provider; ``key`` is the loaded public key or HMAC secret."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    key: Any = field(repr=False)
    groups_claim: str = "groups"
    caller_claim: str = "sub"
    leeway: float = 30.0
    side: Side = "external"
    groups_space_separated: bool = False  # groups_format: space-separated


@dataclass(frozen=True, slots=True)
class Callers:
    """The validated callers file. ``api_keys`` pairs each stored SHA-256 digest with its caller."""

    declared_groups: frozenset[str]
    callers: tuple[Caller, ...] = ()
    api_keys: tuple[tuple[bytes, Caller], ...] = ()
    jwt: JwtConfig | None = None
    failed_auth: RateLimit = FAILED_AUTH  # per client address, see the module docstring

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None,
        declared_groups: Collection[str],
        environ: Mapping[str, str] = os.environ,
        *,
        beyond: Mapping[str, str] | None = None,
    ) -> Callers:
        """Read and validate the callers file; ``None`` (no file configured) accepts nobody.

        ``beyond`` maps each elevated group to the standing group its eligible
        callers must be listed for too (:func:`.elevation.beyond_groups`).
        """
        if path is None:
            return cls(frozenset(declared_groups))
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable"
            raise ConfigError(
                f"cannot read callers file {str(path)!r} (SHIM_CALLERS_FILE): {reason}"
            ) from None
        return cls.from_yaml(
            text, declared_groups, environ, str(path), Path(path).parent, beyond=beyond
        )

    @classmethod
    def from_yaml(
        cls,
        text: str,
        declared_groups: Collection[str],
        environ: Mapping[str, str] = os.environ,
        source: str = "<callers>",
        base_dir: Path | None = None,
        *,
        beyond: Mapping[str, str] | None = None,
    ) -> Callers:
        """Parse callers-file text; errors are ``ConfigError("SOURCE:LINE: ...")``.

        ``beyond``: as for :meth:`load`.
        """
        declared = frozenset(declared_groups)
        try:
            data = yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects
        except _LineError as exc:
            raise ConfigError(f"{source}:{exc.line}: {exc.message}") from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{mark.line + 1}" if mark else "1"
            raise ConfigError(f"{source}:{where}: not valid YAML ({exc.problem})") from None
        except yaml.YAMLError:
            raise ConfigError(f"{source}:1: not valid YAML") from None
        parser = _Parser(source, base_dir or Path("."), declared, environ, dict(beyond or {}))
        return parser.parse(data)


# -- callers file parsing -------------------------------------------------------


class _LineError(Exception):
    """A problem found while composing the YAML, before the source name is known."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(line, message)
        self.line, self.message = line, message


class _Map(dict[str, Any]):
    """A YAML mapping that remembers its line and the line of each key, for errors."""

    line: int = 1
    lines: dict[str, int]


class _Seq(list[Any]):
    """A YAML sequence that remembers its line and the line of each item, for errors."""

    line: int = 1
    lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader keeping line numbers and refusing duplicate keys (PyYAML keeps the last)."""


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str) or key in out:
            raise _LineError(line, "keys must be strings, each at most once per mapping")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = line
    return out


def _construct_seq(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(item, deep=True) for item in node.value)
    out.line, out.lines = node.start_mark.line + 1, [i.start_mark.line + 1 for i in node.value]
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_JWT_KEYS = (
    "issuer audience algorithms public_key_file secret_env side groups_claim groups_format "
    "caller_claim leeway"
)
_ALGS = ", ".join([*_HMAC_MIN_BYTES, *_PUBLIC_ALGS])


@dataclass
class _Parser:
    """Validates the loaded YAML; every error names SOURCE:LINE and what is expected."""

    source: str
    base_dir: Path
    declared: frozenset[str]
    environ: Mapping[str, str]
    beyond: Mapping[str, str]  # elevated group -> standing group its eligible callers must hold

    def fail(self, line: int, message: str) -> ConfigError:
        return ConfigError(f"{self.source}:{line}: {message}")

    def mapping(self, value: object, line: int, what: str, keys: str, required: str) -> _Map:
        if not isinstance(value, _Map):
            raise self.fail(line, f"{what} must be a mapping (keys: {keys})")
        for key in value:
            if key not in keys.split():
                raise self.fail(value.lines[key], f"unknown key '{key}' in {what} (keys: {keys})")
        for key in required.split():
            if key not in value:
                raise self.fail(line, f"{what} lacks the required key '{key}'")
        return value

    def strings(self, m: _Map, key: str, what: str) -> list[tuple[str, int]]:
        value = m[key]
        if not isinstance(value, _Seq) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(m.lines[key], f"{what} must be a non-empty list of strings")
        return list(zip(value, value.lines, strict=True))

    def text(self, m: _Map, key: str, what: str, default: str | None = None) -> str:
        value = m.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(m.lines.get(key, m.line), f"{what} '{key}' must be a non-empty string")
        return value

    def parse(self, data: object) -> Callers:
        top = self.mapping(data, 1, "the callers file", "callers jwt failed_auth", "")
        entries = top.get("callers", [])
        if not isinstance(entries, list):
            raise self.fail(top.lines["callers"], "'callers' must be a list of callers")
        callers: list[Caller] = []
        keys: list[tuple[bytes, Caller]] = []
        owner: dict[bytes, str] = {}
        for entry, line in zip(entries, getattr(entries, "lines", []), strict=True):
            caller, digests = self.caller(entry, line, {c.name for c in callers})
            for digest, dline in digests:
                if digest in owner:
                    raise self.fail(dline, f"this key hash is also listed for '{owner[digest]}'")
                owner[digest] = caller.name
                keys.append((digest, caller))
            callers.append(caller)
        jwt_config = self.jwt(top["jwt"], top.lines["jwt"]) if "jwt" in top else None
        if not callers and jwt_config is None:
            raise self.fail(top.line, "the callers file lists no callers and no 'jwt' section")
        failed = FAILED_AUTH
        if "failed_auth" in top:
            failed = self.rate_limit(top, "failed_auth")
            if failed.per_second <= 0:
                line = top["failed_auth"].lines["per_second"]
                raise self.fail(line, "failed_auth per_second must be greater than 0")
        return Callers(self.declared, tuple(callers), tuple(keys), jwt_config, failed)

    def rate_limit(self, m: _Map, what: str) -> RateLimit:
        rl = self.mapping(m[what], m.lines[what], what, "per_second burst", "per_second burst")
        rate, burst = rl["per_second"], rl["burst"]
        if not _number(rate) or rate < 0:
            raise self.fail(rl.lines["per_second"], "per_second must be a number >= 0 (0 = off)")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise self.fail(rl.lines["burst"], "burst must be a whole number >= 1")
        return RateLimit(float(rate), burst)

    def side(self, m: _Map, what: str) -> Side:
        """``side:`` of a caller or of the JWT issuer; external unless said otherwise."""
        return (
            "internal"
            if self.choice(m, "side", what, SIDES, "external") == "internal"
            else ("external")
        )

    def choice(self, m: _Map, key: str, what: str, allowed: tuple[str, ...], default: str) -> str:
        value = m.get(key, default)
        if value not in allowed:
            line = m.lines.get(key, m.line)
            raise self.fail(line, f"{what} '{key}' must be one of: {', '.join(allowed)}")
        return str(value)

    def caller(self, value: object, line: int, seen: set[str]) -> tuple[Caller, list[Any]]:
        keys = "name side groups api_keys rate_limit description"
        m = self.mapping(value, line, "a caller", keys, "name groups api_keys")
        name = m["name"]
        if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None or name in seen:
            rule = "unique and match [a-z0-9][a-z0-9._-]* (at most 64 characters)"
            raise self.fail(m.lines["name"], f"a caller's name must be {rule}")
        declared = ", ".join(sorted(self.declared))
        listed = self.strings(m, "groups", f"groups of '{name}'")
        for group, gline in listed:
            if group not in self.declared:
                raise self.fail(gline, f"'{name}' names an undeclared group (groups: {declared})")
        groups = frozenset(m["groups"])
        for group, gline in listed:
            self.eligible_beyond(name, group, groups, gline)
        digests = []
        for item, kline in self.strings(m, "api_keys", f"api_keys of '{name}'"):
            item = item.strip().lower()
            if _HASH_RE.fullmatch(item) is None:
                how = f"'sha256:' and 64 hex digits (make one with `{_NEW_KEY}`)"
                raise self.fail(kline, f"each of the api_keys of '{name}' must be {how}")
            digests.append((bytes.fromhex(item[7:]), kline))
        if "description" in m:
            self.text(m, "description", "a caller's")
        limit = self.rate_limit(m, "rate_limit") if "rate_limit" in m else None
        return Caller(name, groups, "api_key", limit, self.side(m, f"'{name}'")), digests

    def eligible_beyond(self, name: str, group: str, groups: frozenset[str], line: int) -> None:
        """Refuse a caller eligible for ``group`` but not listed for the group it is reviewed beyond.

        The review of an elevated group with ``beyond: G`` showed its approvers
        only what a grant reveals beyond ``G``; a caller that does not hold ``G``
        would get more under the grant than anyone approved.
        """
        standing = self.beyond.get(group)
        if standing is None or standing in groups:
            return
        raise self.fail(
            line,
            f"'{name}' is eligible for '{group}' but not listed for '{standing}', the group "
            f"its review compares a grant with, so a grant would show '{name}' more than its "
            f"approvers reviewed; add '{standing}' to the groups of '{name}', or remove "
            f"'{group}' (a mapping without 'beyond: {standing}' reviews the grant against "
            "the view of no group)",
        )

    def jwt(self, value: object, line: int) -> JwtConfig:
        m = self.mapping(value, line, "jwt", _JWT_KEYS, "issuer audience algorithms")
        algs = []
        for alg, aline in self.strings(m, "algorithms", "jwt algorithms"):
            if alg.lower() == "none":
                raise self.fail(aline, "algorithm 'none' is refused: tokens must be signed")
            if alg not in _HMAC_MIN_BYTES and alg not in _PUBLIC_ALGS:
                raise self.fail(aline, f"unsupported algorithm; use one of {_ALGS}")
            algs.append(alg)
        hmac_algs = [a for a in algs if a in _HMAC_MIN_BYTES]
        if hmac_algs and len(hmac_algs) != len(algs):
            why = "it invites algorithm-confusion attacks"
            raise self.fail(
                m.lines["algorithms"], f"do not mix HS* and public-key algorithms: {why}"
            )
        leeway = m.get("leeway", 30)
        if not _number(leeway) or not 0 <= leeway <= 300:
            raise self.fail(m.lines.get("leeway", 0), "leeway must be 0 to 300 seconds")
        return JwtConfig(
            issuer=self.text(m, "issuer", "jwt"),
            audience=self.text(m, "audience", "jwt"),
            algorithms=tuple(algs),
            key=self.hmac_secret(m, hmac_algs) if hmac_algs else self.public_key(m, algs),
            groups_claim=self.text(m, "groups_claim", "jwt", "groups"),
            caller_claim=self.text(m, "caller_claim", "jwt", "sub"),
            leeway=float(leeway),
            side=self.side(m, "jwt"),
            groups_space_separated=self.choice(m, "groups_format", "jwt", GROUPS_FORMATS, "list")
            == "space-separated",
        )

    def hmac_secret(self, m: _Map, algs: list[str]) -> bytes:
        if "public_key_file" in m:
            raise self.fail(m.lines["public_key_file"], "HS* algorithms use secret_env instead")
        var = self.text(m, "secret_env", "HS* algorithms need")
        if _ENV_RE.fullmatch(var) is None:
            raise self.fail(m.lines["secret_env"], "secret_env must name an environment variable")
        need = max(_HMAC_MIN_BYTES[a] for a in algs)
        secret = self.environ.get(var, "").encode("utf-8")
        if len(secret) < need:
            where = f"secret_env of {self.source}"
            raise ConfigError(f"{var} ({where}) must be set to a secret of {need} bytes or more")
        return secret

    def public_key(self, m: _Map, algs: list[str]) -> object:
        if "secret_env" in m:
            raise self.fail(m.lines["secret_env"], "public-key algorithms use public_key_file")
        path = self.base_dir / self.text(m, "public_key_file", f"{algs[0]} needs")
        line = m.lines["public_key_file"]
        try:
            pem = path.read_bytes()
            if b"-----BEGIN CERTIFICATE-----" in pem:
                key: object = x509.load_pem_x509_certificate(pem).public_key()
            else:
                key = serialization.load_pem_public_key(pem)
        except OSError as exc:
            raise self.fail(line, f"cannot read {str(path)!r}: {exc.strerror}") from None
        except (ValueError, TypeError):
            raise self.fail(line, f"{str(path)!r} is not a PEM public key or certificate") from None
        for alg in algs:
            if not _PUBLIC_ALGS[alg](key):
                raise self.fail(line, f"the public key does not fit {alg} ({_KEY_RULE})")
        return key
