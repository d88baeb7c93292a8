"""Runtime support carried by every generated shim.

This package is copied verbatim into each generated shim package, so that a
deployed shim runs without shimgen installed and the code that enforces the
boundary has exactly one source. Its modules refer to each other only through
relative imports, never the generator's own package. The translation core
(errors, keys, support, transforms) imports only the standard library and
``cryptography``, so ``shimgen translate`` and a bare ``to_external`` stay
light; the service modules also use the generated package's declared
dependencies (Starlette, uvicorn, httpx, PyJWT, prometheus-client, psycopg,
jsonschema-rs, orjson, PyYAML). ``tests/test_runtime_keys.py`` enforces both lists.
"""
