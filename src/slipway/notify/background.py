"""One background task that must run until it is closed: restarted, loudly, if it ever ends.

The project's rule is that no background task dies silently. The loops
given here catch what they expect; this is the last line of defence against
a bug in them, so keeping notifications in the store never stops for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("slipway.notify")

#: How long a loop that ended by surprise waits before it runs again.
RESTART_S = 1.0


class Forever:
    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._closing = False

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=self._name)
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._closing or task.cancelled():
            return
        exc = task.exception()
        log.critical("%s stopped unexpectedly; restarting it in %g s", self._name, RESTART_S, exc_info=exc)
        # Not at once: a loop that fails as it starts would otherwise spin the event loop.
        self._restart = asyncio.get_running_loop().call_later(RESTART_S, self._again)

    def _again(self) -> None:
        self._restart = None
        if not self._closing:
            self.start()

    async def close(self) -> None:
        """Cancel the task and wait for it to end."""
        self._closing = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        task, self._task = self._task, None
        if task is not None and not task.done():  # one that ended by surprise was logged already
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
