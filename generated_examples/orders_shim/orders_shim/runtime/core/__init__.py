"""The translation core: what ``to_external``/``to_internal`` and ``shimgen translate`` need.

Imports only the standard library, ``cryptography`` and other core modules, so a
bare translator stays light; it never imports the ``audit`` or ``service`` parts.
"""


def command(verb: str, module: str) -> str:
    """The command that runs ``module``'s main(), as usage lines and messages name it.

    ``module`` is the path inside the runtime (``core.keys``, ``service.auth``). In
    a generated package the runtime is ``<package>.runtime`` and
    ``python -m <package> <verb>`` reaches that main() through the package's CLI;
    anywhere else (shimgen itself, or the private copy ``shimgen translate``
    imports, which is gone once it ends) it is shimgen's own copy of the module.
    """
    package, _, _core = (__package__ or "").rpartition(".")
    parent, _, leaf = package.rpartition(".")
    if leaf == "runtime" and parent and not parent.startswith(("shimgen", "_shimgen_")):
        return f"python -m {parent} {verb}"
    return f"python -m shimgen.runtime.{module}"
