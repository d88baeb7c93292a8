"""The translation core: what ``to_external``/``to_internal`` and ``shimgen translate`` need.

Imports only the standard library, ``cryptography`` and other core modules, so a
bare translator stays light; it never imports the ``audit`` or ``service`` parts.
"""

import os
import sys


def invoked_as(package: str) -> str:
    """How the operator runs the generated ``package``'s CLI: ``hr-shim`` or ``python -m hr_shim``.

    The installed script (``<name>-shim``, what the package README uses throughout)
    when that is what started this process, else ``python -m <package>``, which
    runs wherever the package imports. Messages and usage lines name it so that
    the command they suggest is the one the operator typed, and runs as printed.
    Any other ``argv[0]`` (pytest, a server, ``-c``) is not taken for the script.
    """
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    script = script.removesuffix(".exe")
    if script and not script.endswith(".py") and script.replace("-", "_") == package:
        return script
    return f"python -m {package}"


def command(verb: str, module: str) -> str:
    """The command that runs ``module``'s main(), as usage lines and messages name it.

    ``module`` is the path inside the runtime (``core.keys``, ``service.auth``). In
    a generated package the runtime is ``<package>.runtime`` and
    ``<name>-shim <verb>`` (or ``python -m <package> <verb>``, see :func:`invoked_as`)
    reaches that main() through the package's CLI; anywhere else (shimgen itself,
    or the private copy ``shimgen translate`` imports, which is gone once it ends)
    it is shimgen's own copy of the module.
    """
    package, _, _core = (__package__ or "").rpartition(".")
    parent, _, leaf = package.rpartition(".")
    if leaf == "runtime" and parent and not parent.startswith(("shimgen", "_shimgen_")):
        return f"{invoked_as(parent)} {verb}"
    return f"python -m shimgen.runtime.{module}"
