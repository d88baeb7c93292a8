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


def command(verb: str, module: str) -> str:
    """The command that runs ``module``'s main(), as usage lines and messages name it.

    In a generated package the runtime is ``<package>.runtime`` and
    ``python -m <package> <verb>`` reaches that main() through the package's CLI;
    anywhere else (shimgen itself, or the private copy ``shimgen translate``
    imports, which is gone once it ends) it is shimgen's own copy of the module.
    """
    parent, _, leaf = (__package__ or "").rpartition(".")
    if leaf == "runtime" and parent and not parent.startswith(("shimgen", "_shimgen_")):
        return f"python -m {parent} {verb}"
    return f"python -m shimgen.runtime.{module}"
