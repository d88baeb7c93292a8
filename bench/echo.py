"""The benchmark's denominator: the shim's stack (uvicorn, Starlette, orjson) doing nothing else.

``bench/service.py`` serves this next to the shim with the same uvicorn options, so the
throughput ratio measures only what the shim's own work (auth, validation, translation,
audit) costs: ``uvicorn --factory --app-dir bench echo:build_echo_app``. It is benchmark
code, not product code, so it lives here and is not copied into generated packages.
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["build_echo_app"]

_JSON = "application/json"


def build_echo_app() -> Starlette:
    """Benchmark denominator: ``POST /echo`` parses the JSON body and returns it (plus ``/healthz``).

    Same stack as the shim (uvicorn, Starlette, orjson) and nothing else, so
    the ratio measures what the shim's own work costs.
    """

    async def echo(request: Request) -> Response:
        return Response(orjson.dumps(orjson.loads(await request.body())), media_type=_JSON)

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=_JSON)

    return Starlette(
        routes=[Route("/echo", echo, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
    )
