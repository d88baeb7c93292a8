"""The HTTP service: app, request pipeline, proxy routes, validation, callers, settings, CLI.

Uses ``core`` and ``audit`` and the generated package's declared service
dependencies (Starlette, uvicorn, httpx, PyJWT, prometheus-client, psycopg,
jsonschema-rs, orjson, PyYAML).
"""
