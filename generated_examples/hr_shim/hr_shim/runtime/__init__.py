"""Runtime support carried by every generated shim.

This package is copied verbatim into each generated shim package, so that a
deployed shim runs without shimgen installed and the code that enforces the
boundary has exactly one source. For that reason its modules import only the
standard library and ``cryptography``, and refer to each other only through
relative imports, never the generator's own package.
"""
