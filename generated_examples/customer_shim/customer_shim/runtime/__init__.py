"""Runtime support carried by every generated shim, in three parts.

This package is copied verbatim into each generated shim package, so that a
deployed shim runs without shimgen installed and the code that enforces the
boundary has exactly one source. Its modules refer to each other only through
relative imports, never the generator's own package.

* ``core``: what a translator needs (errors, keysets and tokens, the audit
  signing key inside a keyset, support helpers, value transforms); the
  standard library and ``cryptography`` only. ``shimgen translate`` copies
  just this part.
* ``audit``: the signed, hash-chained audit trail (sinks, checkpoints,
  anchors, the recorder thread, ``audit verify``); imports ``core``.
* ``service``: the HTTP service (app, pipeline, proxy, validation, auth,
  settings, logs, metrics, CLI); imports ``core`` and ``audit``.

Core imports neither other part and audit does not import service
(``tests/test_runtime_layout.py``); ``python -m shimgen.render.runtime`` prints
the import graph by part. Which files a generated package gets is derived from
this directory (``shimgen.render.runtime``), never listed by hand.

``__version__`` is the runtime's own version, recorded in every generated
package's ``SHIM.lock.json`` so that ``shimgen verify`` can say when a newer
runtime is what makes a shim stale. Raise it whenever a runtime file changes:
a shim whose runtime files differ under the same version is reported as such.
"""

__version__ = "0.6.36"
