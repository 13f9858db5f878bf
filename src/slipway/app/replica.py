"""This process as one replica among those sharing the store: its heartbeat, and its turn to lead.

Every replica serves traffic, takes admin calls and follows route changes;
only the leader runs the control loops (canary, shadow), so a canary is
judged and stepped by one process however many serve it. Leadership is a
lease on the store (a PostgreSQL advisory lock, or a lock file beside a
SQLite database): the first replica to start leads; when it dies, another
takes over within seconds and its loops carry on from the stored state.
Every write the loops make carries the leader's epoch, so a leader that was
paused while another took over cannot write after it.

The heartbeat is how `slipway status` lists the live replicas. A store
outage only delays beats (logged once, not per beat); nothing here ever
stops the gateway from serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence

from slipway.core.errors import StoreError
from slipway.core.replicas import Leadership, ReplicaBeat
from slipway.gateway.recorder import Recorder
from slipway.rollout.control_loop import ControlLoop
from slipway.store.database import Store
from slipway.store.leadership import LeaderLease

log = logging.getLogger("slipway.replica")

#: How often a replica writes its heartbeat (seconds).
BEAT_S = 2.0
#: A replica whose last beat is older than this is not listed as live.
LIVE_WITHIN_S = 10.0
#: The leader deletes the rows of replicas silent for this long (crashed ones never delete their own).
FORGET_AFTER_S = 600.0


def replica_id(port: int) -> str:
    """Host, port and pid say where to look; the suffix tells apart a restart that reused them all."""
    return f"{socket.gethostname()}:{port}:{os.getpid()}:{secrets.token_hex(2)}"


class Replica:
    def __init__(
        self,
        *,
        store: Store,
        store_url: str,
        port: int,
        loops: Sequence[ControlLoop],
        recorder: Recorder,
        route_version: Callable[[], int],
        url: str | None = None,
        beat_s: float = BEAT_S,
        id: str | None = None,
    ) -> None:
        """`id`: this replica's id when something built before it records it (default: a new one)."""
        self.id = id or replica_id(port)
        self._store = store
        self._loops = loops
        self._recorder = recorder
        self._route_version = route_version
        self._url = url
        self._beat_s = beat_s
        self.started_at = time.time()
        self.lease = LeaderLease(store_url, self.id)
        self._tasks: list[asyncio.Task[None]] = []
        #: Terms this replica has led (status and tests read it).
        self.terms = 0
        self._pruned_at = 0.0

    @property
    def epoch(self) -> int | None:
        """The epoch this replica leads under, None while another one leads."""
        return self.lease.epoch

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.lease.run(self._elected, self._deposed), name="slipway-leader-lease"),
            asyncio.create_task(self._beat_forever(), name="slipway-heartbeat"),
        ]

    async def announce(self) -> None:
        """Write one heartbeat now, before anything this replica keeps under its id is in the store.

        Others take over what a replica that does not beat kept (its undelivered
        notifications): this one must be seen alive before it keeps anything.
        """
        try:
            await self._store.heartbeat(self.beat())
        except StoreError as exc:
            log.warning("cannot write this replica's first heartbeat (serving goes on): %s", exc)

    async def stop(self) -> None:
        """Leave office (the loops stop) and stop beating; `leave` then drops it from the live list."""
        await self.lease.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for loop in self._loops:
            await loop.stop()

    async def leave(self) -> None:
        """Leave the list of live replicas: what it kept in the store is for the others to take now.

        Separate from `stop`, and last: while the notifiers drain, the last beat
        is recent, so no other replica takes the set this one still delivers.
        """
        with contextlib.suppress(StoreError):
            await self._store.forget_replica(self.id)

    async def _elected(self, epoch: int) -> None:
        self.terms += 1
        log.info("replica %s leads (epoch %d): running the canary and shadow loops", self.id, epoch)
        for loop in self._loops:
            loop.start(epoch)
        await self._beat()  # status shows the new leader at once

    async def _deposed(self) -> None:
        log.info("replica %s no longer leads: its control loops stop", self.id)
        for loop in self._loops:
            await loop.stop()

    def beat(self) -> ReplicaBeat:
        return ReplicaBeat(
            id=self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            heartbeat_at=time.time(),
            route_version=self._route_version(),
            records_queued=self._recorder.pending,
            records_dropped=self._recorder.stats.dropped,
            leader_epoch=self.epoch,
            url=self._url,
        )

    async def _beat(self) -> None:
        await self._store.heartbeat(self.beat())
        now = time.time()
        if self.epoch is not None and now - self._pruned_at >= FORGET_AFTER_S / 10:
            self._pruned_at = now
            gone = await self._store.forget_silent_replicas(now - FORGET_AFTER_S)
            if gone:
                log.info(
                    "forgot %d replica(s) silent for over %.0f s (crashed, or their host is gone)",
                    gone,
                    FORGET_AFTER_S,
                )

    async def _beat_forever(self) -> None:
        failing = False
        while True:
            try:
                await self._beat()
            except StoreError as exc:
                if not failing:
                    log.warning("cannot write this replica's heartbeat (serving goes on): %s", exc)
                failing = True
            except Exception:
                log.exception("writing this replica's heartbeat failed unexpectedly; trying again")
            else:
                if failing:
                    log.info("heartbeats are written again")
                failing = False
            await asyncio.sleep(self._beat_s)

    async def others_live(self) -> int:
        """How many other replicas beat lately: their answers' records may not be in the store yet."""
        return sum(
            1 for beat in await self._store.live_replicas(time.time() - LIVE_WITHIN_S) if beat.id != self.id
        )

    async def live(self) -> tuple[list[ReplicaBeat], Leadership]:
        """The replicas seen lately, and the store's leadership record."""
        replicas = await self._store.live_replicas(time.time() - LIVE_WITHIN_S)
        return replicas, await self._store.leadership()
