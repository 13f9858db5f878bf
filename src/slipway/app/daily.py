"""Sends the daily summary from the leader, once per UTC day, even across a leader change or a restart.

The day last sent is kept in the store's meta and written before the
summary is queued (the outbox then retries its delivery), so two replicas
or a restart never send it twice, and a leader that was down at the hour
sends it when it comes back the same day. The loop sleeps on the
controllers' clock (tests compress time); the window and the time of day
are read on the wall clock, the time base of the records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from slipway.core.notifications import Notification
from slipway.core.ports import Clock, Notifier
from slipway.rollout.canary_controller import CanaryController
from slipway.rollout.control_loop import ControlLoop
from slipway.rollout.daily_summary import WINDOW_S, DailyFacts, RolloutFact, daily_summary, due_day, next_due
from slipway.rollout.shadow_controller import ShadowController
from slipway.rollout.strategies.canary_state import CanaryStatus
from slipway.store.database import Store

log = logging.getLogger("slipway.daily")

#: The store meta key holding the last UTC day (YYYY-MM-DD) whose summary was sent.
META_KEY = "notify.daily_summary.last_day"
#: How many history rows and deliveries are read (the summary caps what it lists anyway).
READ_MAX = 1000
_RUNNING = (CanaryStatus.RUNNING, CanaryStatus.PAUSED, CanaryStatus.HOLDING, CanaryStatus.INVESTIGATING)


class DailySummary(ControlLoop):
    NAME = "slipway-daily-summary"

    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        canary: CanaryController,
        shadow: ShadowController,
        at: Callable[[], str | None],
        clock: Clock,
        wall: Callable[[], float] = time.time,
        recorder_losses: Callable[[], tuple[int, int] | None] = lambda: None,
        before_read: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        #: Writes what is still queued (request records, delivery outcomes) before the store is read.
        self._before_read = before_read
        super().__init__(clock, log)
        self._store = store
        self._notifier = notifier
        self._canary = canary
        self._shadow = shadow
        self._at = at
        self._wall = wall
        self._losses = recorder_losses
        #: Summaries this process sent (tests read it).
        self.sent = 0

    async def compose(self) -> Notification:
        """The summary of the last 24 hours, now."""
        if self._before_read is not None:
            await self._before_read()
        wall = self._wall()
        since = wall - WINDOW_S
        history = await self._store.route_history(READ_MAX)
        deliveries = await self._store.list_deliveries(READ_MAX)
        counts = await self._store.request_counts(since)
        losses = self._losses()
        return daily_summary(
            DailyFacts(
                now=wall,
                history=history,
                rollouts=await self._rollouts(),
                deliveries=deliveries,
                traffic={slot: int(c.get("total", 0)) for slot, c in counts.items()},
                lost=losses[0] if losses else None,
                dropped=losses[1] if losses else None,
            )
        )

    async def _rollouts(self) -> list[RolloutFact]:
        now = self.clock.now()
        facts: list[RolloutFact] = []
        state = await self._canary.current()
        if state is not None and (state.ended_at is None or now - state.ended_at <= WINDOW_S):
            verdict = state.last_verdict
            running = state.status in _RUNNING or state.status is CanaryStatus.PROMOTED
            facts.append(
                RolloutFact(
                    kind=state.kind,
                    version=state.version,
                    slot=state.candidate,
                    status=str(state.status).replace("_", " "),
                    verdict=f"{verdict.action}: {verdict.reason}" if verdict else "",
                    unjudged=tuple(verdict.uncovered()) if verdict else (),
                    running=running,
                    rolled_back=state.status is CanaryStatus.ROLLED_BACK,
                )
            )
        run = await self._store.latest_shadow()
        if run is not None and (run.ended_at is None or now - run.ended_at <= WINDOW_S):
            facts.append(
                RolloutFact(
                    kind="shadow",
                    version=run.version,
                    slot=run.candidate,
                    status=str(run.status).replace("_", " "),
                    verdict=run.reason,
                    running=run.ended_at is None,
                )
            )
        return facts

    async def send_now(self) -> Notification:
        """Compose and queue the summary to every sink now (the day's mark is left as it is)."""
        note = await self.compose()
        self._notifier.notify(note)
        return note

    async def _wake_once(self) -> float | None:
        at = self._at()
        if at is None:
            return None
        wall = self._wall()
        day = due_day(wall, at)
        if day is not None and (await self._store.get_meta(META_KEY) or "") < day:
            # Marked first: a crash after this loses one mail rather than sending two.
            await self._store.set_meta(META_KEY, day)
            self._notifier.notify(await self.compose())
            self.sent += 1
            log.info("daily summary for %s sent", day)
        wait = min(next_due(self._wall(), at) - self._wall(), self.IDLE_POLL_S)
        return self.clock.now() + max(wait, 1.0)
