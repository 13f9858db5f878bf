"""Taking over the notifications that replicas which stopped beating kept in the store.

A replica keeps its undelivered set under `<prefix><its id>` while it runs
(see `keeper`). Once its heartbeat is older than the liveness window (a clean
stop forgets the heartbeat at once; a crash just stops it), a replica that is
still running takes the set, in one atomic store statement so that exactly
one replica gets each, and queues it again: at start, and every `every_s`
after, so a crash is covered without waiting for a restart. A replica that
beats is never robbed: both would deliver.

Delivery is at least once: a notification sent just before the kill (the
sink had it, the kept set not yet updated) is sent again by the taker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from slipway.core.errors import SlipwayError
from slipway.core.ports import KeptStore
from slipway.notify.background import Forever
from slipway.notify.kept import Kept, decode

log = logging.getLogger("slipway.notify")


class Takeover:
    def __init__(
        self,
        store: KeptStore,
        *,
        prefix: str,
        mine: str,
        live_within_s: float,
        requeue: Callable[[Kept], int],
        every_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`requeue(kept)`: queue a taken set on this replica's sinks; how many were queued."""
        self._store = store
        self._prefix = prefix
        self._mine = mine
        self._live_within_s = live_within_s
        self._requeue = requeue
        self._every_s = every_s
        self._clock = clock
        self._failing = False
        self._forever = Forever("slipway-notify-takeover", self._run)
        #: Kept sets taken over so far (tests and logs read it).
        self.taken = 0

    def start(self) -> None:
        self._forever.start()

    async def close(self) -> None:
        await self._forever.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                await self.once()
            except Exception:  # never expected (`once` logs store errors): logged, and the loop goes on
                log.exception("taking over stopped replicas' notifications failed unexpectedly")

    async def once(self) -> int:
        """Take and queue the sets of replicas silent for longer than the window; how many queued."""
        try:
            taken = await self._store.take_meta_of_silent(
                self._prefix, alive_since=self._clock() - self._live_within_s, mine=self._mine
            )
        except SlipwayError as exc:
            if not self._failing:
                log.error("cannot read the notifications stopped replicas kept (trying again): %s", exc)
            self._failing = True
            return 0
        if self._failing:
            log.info("the notifications stopped replicas kept can be read again")
            self._failing = False
        total = 0
        for key, raw in sorted(taken.items()):
            self.taken += 1
            try:
                kept = decode(raw)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.error("notifications kept under %s are unreadable (%s); dropped", key, exc)
                continue
            queued = self._requeue(kept)
            total += queued
            log.info(
                "%d notification(s) kept by replica %s (stopped, or silent for over %g s) queued again",
                queued,
                key.removeprefix(self._prefix),
                self._live_within_s,
            )
        return total
