"""A step a worker runs every few seconds on its event loop, until it stops.

Background work of a worker (tracking's pushes to the shared store, saving
tracking baselines) is one task each with the same life: sleep, run the step,
and if the step fails, log it and go on (a bug in one step must not end the
task: the work would silently stop for the rest of the process), then cancel
the task at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from .logs import exception_fields, logger

__all__ = ["Periodic"]


class Periodic:
    """``step`` every ``seconds``; a failure is an ERROR line ``failed`` and ``on_error()``."""

    def __init__(
        self,
        seconds: float,
        step: Callable[[], Awaitable[object]],
        failed: str,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.seconds = seconds
        self._step = step
        self._failed = failed
        self._on_error = on_error
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await self._step()
            except Exception as exc:
                if self._on_error is not None:
                    self._on_error()
                logger.error(self._failed, extra={"event": "error", **exception_fields(exc)})
