"""Keeps this replica's routes the store's routes, whoever committed them.

Every replica commits route changes to the one store; the others hear of
the new version (`RouteChanges`: notifications and a poll), load the table
and publish it to their gateway, and wake their control loops, which may
have a canary or a shadow run to look at. A canary or shadow saved elsewhere
(an operator's pause or resume sent to another replica) wakes them too. A failure here is logged with its
traceback and the follower starts again: a replica that silently stopped
following would serve yesterday's routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from slipway.core.ports import RouteChanges
from slipway.rollout.controller import RouteController

log = logging.getLogger("slipway.routes")

#: How long the follower waits before it starts again after a fault.
RESTART_S = 1.0


class RouteFollower:
    def __init__(self, changes: RouteChanges, routes: RouteController, on_change: Callable[[], None]) -> None:
        self._changes = changes
        self._routes = routes
        #: Called after a table committed elsewhere was taken in (wakes the control loops).
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        #: Faults the follower restarted after (status shows them).
        self.restarts = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="slipway-route-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _version(self, version: int) -> None:
        if await self._routes.refresh(version):
            self._on_change()

    async def _run(self) -> None:
        while True:
            try:
                await self._changes.follow(self._version, self._on_change)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.restarts += 1
                log.exception("following route changes failed; starting again in %g s", RESTART_S)
            await asyncio.sleep(RESTART_S)
