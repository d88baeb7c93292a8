"""Exit code 3: a bug in shimgen is one line on stderr, never a traceback.

Every failure a user can cause is a finding (exit 1) or an unreadable input
(exit 2). Anything else that escapes a command is shimgen's own fault: the
user gets one line to paste into a report, and ``--debug`` adds the Python
traceback for whoever fixes it. The guard sits in the command group, so the
installed ``shimgen`` script, ``python -m shimgen`` and typer's CliRunner
all behave alike.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from shimgen import __version__
from shimgen.diagnostics import one_line

INTERNAL_ERROR_EXIT = 3
_PACKAGE_DIR = Path(__file__).resolve().parent
_MAX_WHAT = 400


def _is_cli_control(exc: BaseException) -> bool:
    """typer's Exit/Abort and click's usage errors are how commands end, not crashes.

    Recent typer vendors click (its ``ClickException`` then lives in typer), older
    typer re-exports click's: matching the class name covers both.
    """
    if isinstance(exc, typer.Exit | typer.Abort):
        return True
    return any(cls.__name__ in ("ClickException", "Exit", "Abort") for cls in type(exc).__mro__)


def _where(exc: BaseException) -> str:
    """The innermost frame inside shimgen (``shimgen/render/codegen.py:212``), else the last."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    inside: dict[str, str | None] = {}  # file -> shown name, None when not shimgen's
    for name in {f.filename for f in frames}:  # a RecursionError has ~1,000 frames, few files
        path = Path(name).resolve()
        inside[name] = (
            f"shimgen/{path.relative_to(_PACKAGE_DIR).as_posix()}"
            if path.is_relative_to(_PACKAGE_DIR)
            else None
        )
    ours = [f for f in frames if inside[f.filename] is not None]
    frame = (ours or frames)[-1]
    return f" at {inside[frame.filename] or Path(frame.filename).name}:{frame.lineno}"


def internal_error_line(exc: BaseException) -> str:
    """``internal error: <what> (shimgen VERSION; please report)``, always one line."""
    message = " ".join(str(exc).split())
    if len(message) > _MAX_WHAT:
        message = message[: _MAX_WHAT - 3] + "..."
    what = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return one_line(f"internal error: {what}{_where(exc)} (shimgen {__version__}; please report)")


def unwritable_line(exc: OSError) -> str:
    """An OS refusal (missing directory, permission, disk full) is the environment's, exit 2."""
    name = f": {exc.filename}" if exc.filename else ""
    return one_line(f"error: {exc.strerror or exc}{name}")


class GuardedGroup(TyperGroup):
    """The shimgen command group: runs a command, turning a crash into exit 3 (or 2)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise  # click's own handling: the reader went away, exit quietly
        except Exception as exc:
            if _is_cli_control(exc):
                raise
            if ctx.params.get("debug"):
                typer.echo("".join(traceback.format_exception(exc)).rstrip("\n"), err=True)
            if isinstance(exc, OSError) and exc.strerror:
                typer.echo(unwritable_line(exc), err=True)
                raise typer.Exit(2) from None
            typer.echo(internal_error_line(exc), err=True)
            raise typer.Exit(INTERNAL_ERROR_EXIT) from None
