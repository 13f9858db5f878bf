"""The background loop every controller runs: wake at a time on the controller's clock, or when kicked.

A controller (canary, shadow) says what one wake does and when the next is
due; this class owns the task, the kick, the clock-aware sleep and the rule
that a failing wake is logged and retried rather than ending the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slipway.core.errors import SlipwayError
from slipway.core.fencing import leader_epoch
from slipway.core.ports import Clock


class ControlLoop:
    #: Task name, and what the log calls this loop.
    NAME = "slipway-control"
    #: With nothing to do, still look this often (clock seconds): another replica may have acted.
    IDLE_POLL_S = 300.0
    #: After a failed wake (store down, judge failing) try again this soon (clock seconds).
    RETRY_S = 60.0

    def __init__(self, clock: Clock, log: logging.Logger) -> None:
        self.clock = clock
        self._log = log
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Number of wakes that ran to the end (tests wait on it).
        self.wakes = 0

    async def _wake_once(self) -> float | None:
        """One wake; returns when the next is due (clock time), or None for the idle poll."""
        raise NotImplementedError

    def start(self, epoch: int | None = None) -> None:
        """Run the loop; with `epoch`, every store write it makes is refused once another leader took over."""
        if self._task is not None:
            raise RuntimeError(f"{self.NAME} is already running")
        self._task = asyncio.create_task(self._run(epoch), name=self.NAME)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def kick(self) -> None:
        """Wake the loop now (something started, an operator acted)."""
        self._kick.set()

    async def _run(self, epoch: int | None) -> None:
        leader_epoch.set(epoch)  # this task's own context: its wakes, and what they start
        while True:
            try:
                wake_at = await self._wake_once()
            except asyncio.CancelledError:
                raise
            except SlipwayError as exc:
                self._log.error("%s: a wake failed, retrying in %gs: %s", self.NAME, self.RETRY_S, exc)
                wake_at = self.clock.now() + self.RETRY_S
            except Exception:
                self._log.exception("%s: unexpected error, retrying in %gs", self.NAME, self.RETRY_S)
                wake_at = self.clock.now() + self.RETRY_S
            self.wakes += 1
            delay = self.IDLE_POLL_S if wake_at is None else wake_at - self.clock.now()
            await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        if self._kick.is_set():
            self._kick.clear()
            return
        sleeper = asyncio.create_task(self.clock.sleep(seconds))
        kicked = asyncio.create_task(self._kick.wait())
        try:
            await asyncio.wait({sleeper, kicked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, kicked):
                task.cancel()
            await asyncio.gather(sleeper, kicked, return_exceptions=True)
        self._kick.clear()
