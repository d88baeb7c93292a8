"""Problem responses (RFC 9457 ``application/problem+json``), one shape for every error.

Every 4xx and 5xx the shim sends has the same documented shape, so a partner
writes one error handler::

    {"type": "https://shimgen.dev/problems/<slug>", "title": "...", "status": 422,
     "detail": "...", "request_id": "...",
     "errors": [{"pointer": "/cards/0/number", "message": "..."}]}   # errors optional

Titles and details are fixed texts chosen by the shim; ``errors`` carries JSON
pointers and messages that name the kind of problem. Nothing here ever holds a
value from a request, an upstream answer or a secret: callers build problems
only from the catalogue below and from :class:`~.errors.Problem` pointers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import Problem

__all__ = [
    "MEDIA_TYPE",
    "TYPE_BASE",
    "HTTPProblem",
    "http_exception_handler",
    "problem_body",
    "problem_handler",
    "problem_response",
]

MEDIA_TYPE: Final = "application/problem+json"
TYPE_BASE: Final = "https://shimgen.dev/problems/"

# status -> (slug, title) for problems raised without a more specific slug.
_DEFAULTS: Final[dict[int, tuple[str, str]]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-failed", "Validation failed"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    502: ("bad-gateway", "Bad gateway"),
    503: ("unavailable", "Service unavailable"),
    504: ("gateway-timeout", "Gateway timeout"),
}


class HTTPProblem(Exception):
    """Raised anywhere in a request's handling to end it with a problem response.

    An exception (rather than a returned response) lets the pipeline's steps
    stay straight-line code; the service's exception handler renders it with
    the request id. ``headers`` carries e.g. ``Retry-After`` or ``Allow``.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Iterable[Problem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_slug, default_title = _DEFAULTS.get(status, ("error", "Error"))
        self.status = status
        self.detail = detail
        self.slug = slug or default_slug
        self.title = title or default_title
        self.errors: tuple[Problem, ...] = tuple(errors)
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(status, self.slug)

    def __str__(self) -> str:
        return f"{self.status} {self.slug}"


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request_id: str,
    errors: Iterable[Problem] = (),
) -> bytes:
    """The JSON body of a problem, keys in the documented order."""
    body: dict[str, object] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    items = [{"pointer": p.pointer, "message": p.message} for p in errors]
    if items:
        body["errors"] = items
    return orjson.dumps(body)


def problem_response(problem: HTTPProblem, request_id: str) -> Response:
    """Render ``problem`` as an ``application/problem+json`` response."""
    body = problem_body(
        problem.status, problem.slug, problem.title, problem.detail, request_id, problem.errors
    )
    return Response(body, problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


async def problem_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for :class:`HTTPProblem` raised by Starlette-routed endpoints."""
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc, request.scope.get("shim.request_id", ""))


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no such route, method not allowed) as problems."""
    assert isinstance(exc, HTTPException)
    detail = {404: "no such endpoint", 405: "method not allowed on this endpoint"}
    problem = HTTPProblem(
        exc.status_code, detail.get(exc.status_code, "request refused"), headers=exc.headers
    )
    return problem_response(problem, request.scope.get("shim.request_id", ""))
