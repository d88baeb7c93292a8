"""The internal API as the proxy routes reach it: one client that keeps no state.

The client is shared by every caller of the process, so it must carry
nothing from one request to the next: its cookie jar refuses every cookie,
and each request is cut down to :data:`DECLARED_HEADERS` right before it is
sent, whatever set the rest. Answers are read with a size limit, and gzip or
deflate answers are decoded with the same limit on the decoded size (a
decompression bomb is a 502, never a memory spike), in linear time, off the
event loop and inside the upstream deadline.
"""

from __future__ import annotations

import http.cookiejar
import urllib.request
import zlib
from dataclasses import dataclass
from typing import Final

import anyio
import anyio.to_thread
import httpx

from .logs import logger
from .problems import HTTPProblem

__all__ = [
    "ANSWER_THREADS",
    "DECLARED_HEADERS",
    "Crossing",
    "Upstream",
    "bad_gateway",
    "decode_body",
    "log_upstream",
]

_JSON: Final = "application/json"
DECLARED_HEADERS: Final = frozenset(
    {"host", "accept", "accept-encoding", "connection", "user-agent", "x-request-id",
     "content-type", "content-length"}
)  # fmt: skip
"""The only request headers the shim sends upstream; any other is removed before sending."""
_ENCODINGS: Final = "gzip, deflate"  # what the shim can decode, with a bound (decode_body)
MAX_GZIP_MEMBERS: Final = 64
"""Members one gzip answer may hold; more is a 502 (real servers send one, rarely a few)."""
_SLICE: Final = 64 * 1024  # input bytes fed to zlib at once (bounds the unused_data copy)
ANSWER_THREADS: Final = 4
"""Threads per worker that decode and translate large upstream answers.

A pool of their own, apart from anyio's default one (40 threads), which the
grant store and the blocking readiness checks use: a caller that asks for many
large answers at once queues for these four and cannot hold every thread a
grant check or ``/readyz`` needs (which stalled every elevated request and let
the pod be taken out of service). Work that holds the GIL gains nothing from
more threads; four let decoding (zlib releases the GIL) overlap translating.
"""


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A cookie policy that stores no cookie and returns none.

    The client is shared by every caller of the process: a cookie an upstream
    sets while serving one caller must never ride on another caller's request.
    """

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


class Upstream:
    """The internal API: one connection-pooled client for the whole process.

    The pool shares TCP connections only: the client holds no cookie (its jar
    refuses them), no credentials and no per-caller header, and every request is
    cut down to :data:`DECLARED_HEADERS` before it is sent. Redirects are not
    followed (a redirect is an upstream error, 502) and the overall deadline per
    call is ``timeout`` seconds on top of httpx's per-phase timeouts, so a
    slow-dripping upstream still ends in a 504.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        # CPU work on answers (decoding, translating) waits for one of these, not the
        # default pool's threads (see ANSWER_THREADS).
        self.answers = anyio.CapacityLimiter(ANSWER_THREADS)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,  # tests pass an ASGI transport; None is the real network
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max(1, max_connections // 5),
                keepalive_expiry=30.0,
            ),
            follow_redirects=False,
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            headers={"user-agent": "shimgen-shim", "accept": _JSON,
                     "accept-encoding": _ENCODINGS},
        )  # fmt: skip

    async def reachable(self) -> bool:
        """Readiness: any HTTP answer to ``HEAD <base URL>`` counts as reachable."""
        try:
            with anyio.fail_after(min(self.timeout, 2.0)):
                await self.client.head("")
        except (httpx.HTTPError, TimeoutError):
            return False
        return True

    def prepare(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str | int | float | bool | None]],
        body: bytes | None,
        request_id: str,
    ) -> httpx.Request:
        """The request exactly as :meth:`call` will send it, or a 414 if it cannot be built.

        Built before anything is on record as sent (the ``proxy-forward`` event,
        ``records_in``): a query whose URL the client refuses to build (httpx's
        :class:`~httpx.InvalidURL`, e.g. longer than 64 KiB once percent-encoded:
        ``%FF`` decodes to U+FFFD and is sent as ``%EF%BF%BD``) was a 500 raised
        at the send, after the trail said the request had crossed inward
        (red-team, tenth pass).
        """
        headers = {"x-request-id": request_id}
        if body is not None:
            headers["content-type"] = _JSON
        try:
            request = self.client.build_request(
                method, path, params=query, content=body, headers=headers
            )
        except httpx.InvalidURL:
            raise HTTPProblem(
                414,
                "the query cannot be forwarded: it is too long once encoded for the internal "
                "API; send shorter query values",
                slug="query-too-long",
                title="Query too long",
            ) from None
        for name in [n for n in request.headers if n not in DECLARED_HEADERS]:
            del request.headers[name]  # the allow-list is enforced here, whatever set it
        return request

    async def call(
        self, request: httpx.Request, max_bytes: int, crossing: Crossing | None = None
    ) -> tuple[int, str, bytes]:
        """Status, media type and (bounded, decoded) body of the answer to ``request``
        (from :meth:`prepare`); 502/504 on failure.

        ``crossing.upstream_status`` is set as soon as the status line arrives,
        so the audit record has it even when the body is then refused.
        """
        try:
            with anyio.fail_after(self.timeout):
                response = await self.client.send(request, stream=True)
                if crossing is not None:
                    crossing.upstream_status = response.status_code
                try:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_raw():
                        size += len(chunk)
                        if size > max_bytes:
                            log_upstream("upstream-too-large", response.status_code)
                            raise bad_gateway()
                        chunks.append(chunk)
                finally:
                    await response.aclose()
                raw = b"".join(chunks)
                coding = response.headers.get("content-encoding")
                if coding is not None and raw:
                    raw = await _decode_off_loop(
                        raw, coding, max_bytes, response.status_code, self.answers
                    )
        except (httpx.TimeoutException, TimeoutError):
            raise HTTPProblem(504, "the internal API did not answer in time") from None
        except httpx.HTTPError as exc:
            logger.error(
                "upstream call failed",
                extra={"event": "upstream-error", "error_type": type(exc).__name__},
            )
            raise bad_gateway() from None
        media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        return response.status_code, media, raw

    async def aclose(self) -> None:
        await self.client.aclose()


async def _decode_off_loop(
    raw: bytes, coding: str, limit: int, status: int, threads: anyio.CapacityLimiter
) -> bytes:
    """:func:`decode_body` in one of ``threads``, inside the caller's upstream deadline.

    Decoding is CPU work on up to ``limit`` bytes: on the event loop it would
    stall every other request, and outside the deadline a slow decode would not
    end in a 504. A decode past the deadline is not abandoned but waited for
    (it is bounded by ``limit``) and then ends in the 504: an abandoned one gave
    its slot back while it ran on, so more than ``threads`` could run (red-team,
    fourth pass). An answer whose body decodes to nothing is no JSON (502), not
    a 204.
    """
    try:
        decoded = await anyio.to_thread.run_sync(decode_body, raw, coding, limit, limiter=threads)
    except ValueError as exc:
        log_upstream(str(exc), status)
        raise bad_gateway() from None
    if not decoded:
        log_upstream("upstream-not-json", status)
        raise bad_gateway()
    return decoded


def decode_body(data: bytes, coding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, identity; applied in the order listed).

    The decoded size is bounded by ``limit`` while decoding (zlib's
    ``max_length``), so a decompression bomb costs at most ``limit`` bytes of
    memory; the time is linear in the input, and a gzip answer may hold at most
    :data:`MAX_GZIP_MEMBERS` members. Raises ValueError naming a log event:
    ``upstream-too-large``, ``upstream-too-many-members``, or
    ``upstream-bad-encoding`` for an unknown coding or a corrupt stream.
    """
    for name in reversed([c.strip().lower() for c in coding.split(",")]):
        if name in ("", "identity"):
            continue
        if name in ("gzip", "x-gzip"):
            data = _inflate(data, 16 + zlib.MAX_WBITS, limit)
        elif name == "deflate":
            try:  # RFC 9110 deflate is the zlib format; some servers send raw deflate
                data = _inflate(data, zlib.MAX_WBITS, limit)
            except zlib.error:
                data = _inflate(data, -zlib.MAX_WBITS, limit)
        else:
            raise ValueError("upstream-bad-encoding")
    return data


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """One zlib/gzip stream (gzip may hold several members), at most ``limit`` bytes out.

    The input is fed in slices of at most :data:`_SLICE` bytes of a memoryview:
    zlib copies what a member leaves unread into ``unused_data``, and feeding it
    the whole rest of the body would copy that rest once per member (quadratic
    time for an answer of many tiny members). Here each member copies at most
    one slice, and the members are counted.
    """
    view = memoryview(data)
    end = len(view)
    out: list[bytes] = []
    size = pos = members = 0
    while pos < end:
        members += 1
        if members > MAX_GZIP_MEMBERS:
            raise ValueError("upstream-too-many-members")
        inflater = zlib.decompressobj(wbits)
        while not inflater.eof:
            if pos >= end:
                raise ValueError("upstream-bad-encoding")  # truncated stream
            piece_in = view[pos : pos + _SLICE]
            try:
                piece = inflater.decompress(piece_in, limit - size + 1)
            except zlib.error:
                if wbits == zlib.MAX_WBITS and members == 1 and pos == 0:
                    raise  # the caller retries as raw deflate
                raise ValueError("upstream-bad-encoding") from None
            size += len(piece)
            if size > limit or inflater.unconsumed_tail:
                raise ValueError("upstream-too-large")
            out.append(piece)
            pos += len(piece_in) - len(inflater.unused_data)
        if wbits < 16:
            break  # zlib and raw deflate hold one stream; bytes after it are ignored
    return b"".join(out)


def bad_gateway() -> HTTPProblem:
    return HTTPProblem(502, "the internal API's answer could not be used")


def log_upstream(event: str, status: int | None = None) -> None:
    logger.error("upstream answer refused", extra={"event": event, "upstream_status": status})


@dataclass
class Crossing:
    """What the audit record of one proxy request says besides its outcome.

    ``records`` is what went out to the caller (the answer's records),
    ``records_in`` what was forwarded to the internal API (1 once a path value,
    a body or a query parameter was sent, whatever it answered), ``fields_in``
    what went with it: the route's inbound fields for the group and each declared
    query parameter (``?expand:pass``: its value crosses unchanged, so the record
    names it like a field).
    """

    records: int = 0
    records_in: int = 0
    upstream_status: int | None = None
    fields_in: tuple[str, ...] = ()
