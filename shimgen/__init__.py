"""shimgen: generate standalone translation shims between an internal and an external API.

The flow, one package per stage: ``mapping``/``schema`` load -> ``check``
resolves into a ``ShimPlan`` -> ``render`` writes the package (Jinja2 + ruff format).
``runtime`` is copied into every generated shim and never imports shimgen.
"""

__version__ = "0.1.0"
