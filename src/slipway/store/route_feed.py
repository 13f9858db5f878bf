"""How a replica hears that another one changed the routes: PostgreSQL notifications, and a poll.

A route commit on PostgreSQL notifies `ROUTES_CHANNEL` with its version in
the same transaction, so a listening replica learns of it within
milliseconds. A listener can miss notifications (its connection drops, the
server restarts), so every replica also reads the committed version every
`poll_s` seconds: a missed notification costs at most that long. SQLite has
no notifications; replicas on one host share its file and poll.

Canary and shadow saves move a counter of their own the same way
(`repositories.rollout_marks`): read by the same poll, announced on
`ROLLOUTS_CHANNEL`, reported as "something changed" so the leader's loops wake.

The feed only reports versions; deciding whether one is news, and loading
the table, is the caller's job (`RouteController.refresh`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg

from slipway.core.errors import StoreError
from slipway.store.database import Store
from slipway.store.repositories.rollout_marks import ROLLOUTS_CHANNEL
from slipway.store.repositories.routes import ROUTES_CHANNEL
from slipway.store.sql_engines import libpq_url

log = logging.getLogger("slipway.routes")

#: The longest wait before a dropped listener connects again.
MAX_RECONNECT_S = 10.0


@dataclass
class FeedStats:
    """What the feed has seen, for status and /metrics."""

    #: Versions announced by notifications, and by polls that found a change first.
    notified: int = 0
    polled: int = 0
    #: Canary and shadow saves heard of (by notification or poll), which woke the control loops.
    rollout_changes: int = 0
    #: Whether the notification listener is connected now (always False on SQLite).
    listening: bool = False
    #: Times the listener connected (the first time included).
    connects: int = 0
    #: Failed polls and listener connections since start.
    errors: int = 0


class RouteFeed:
    def __init__(self, store: Store, *, poll_s: float = 1.0, notifications: bool = True) -> None:
        self._store = store
        self._poll_s = poll_s
        self._listen = notifications and store.url.get_backend_name() == "postgresql"
        self._last = -1
        self._last_rollouts: int | None = None
        self._on_rollouts: Callable[[], None] = lambda: None
        self.stats = FeedStats()

    async def follow(
        self, on_version: Callable[[int], Awaitable[None]], on_rollouts: Callable[[], None]
    ) -> None:
        """Call `on_version` with each route version seen that differs from the last, and
        `on_rollouts` when canaries or shadow runs were saved since the last look; until cancelled."""
        self._on_rollouts = on_rollouts
        tasks = [asyncio.create_task(self._poll(on_version), name="slipway-route-poll")]
        if self._listen:
            tasks.append(asyncio.create_task(self._listen_forever(on_version), name="slipway-route-listen"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _seen(self, version: int, on_version: Callable[[int], Awaitable[None]]) -> bool:
        if version == self._last:
            return False
        self._last = version
        try:
            await on_version(version)
        except StoreError as exc:
            # Not taken in (the table could not be read): the next poll reports it again.
            self._last = -1
            self.stats.errors += 1
            log.warning("route version %d seen but not loaded yet: %s", version, exc)
            return False
        return True

    def _rollouts_moved(self, mark: int) -> None:
        """Canary or shadow runs were saved: `mark` is the counter as it stands after them.

        The first look only learns the counter; a notification and the poll that reads the same
        count wake the loops once.
        """
        first = self._last_rollouts is None
        if mark == self._last_rollouts:
            return
        self._last_rollouts = mark
        if not first:
            self.stats.rollout_changes += 1
            self._on_rollouts()

    async def _poll(self, on_version: Callable[[int], Awaitable[None]]) -> None:
        failing = False
        while True:
            try:
                version, rollouts = await self._store.change_marks()
            except StoreError as exc:
                self.stats.errors += 1
                if not failing:
                    log.warning("cannot read the route version (serving the last routes known): %s", exc)
                failing = True
            else:
                if failing:
                    log.info("the store answers again: following route changes")
                failing = False
                if await self._seen(version, on_version):
                    self.stats.polled += 1
                self._rollouts_moved(rollouts)
            await asyncio.sleep(self._poll_s)

    async def _listen_forever(self, on_version: Callable[[int], Awaitable[None]]) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen_once(on_version)
                delay = 0.5
            except (psycopg.Error, OSError) as exc:
                self.stats.errors += 1
                log.warning(
                    "route notifications lost (%s); polling every %g s, reconnecting in %g s",
                    exc, self._poll_s, delay,
                )  # fmt: skip
            finally:
                self.stats.listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_S)

    async def _listen_once(self, on_version: Callable[[int], Awaitable[None]]) -> None:
        conninfo = libpq_url(self._store.url)
        async with await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, application_name="slipway-route-listener", connect_timeout=5
        ) as conn:
            await conn.execute(f"LISTEN {ROUTES_CHANNEL}")
            await conn.execute(f"LISTEN {ROLLOUTS_CHANNEL}")
            row = await (await conn.execute("SELECT current_schema()")).fetchone()
            mine = f"{row[0] if row else ''}:"
            self.stats.listening = True
            self.stats.connects += 1
            # Whatever was committed while nobody listened is read now, not at the next poll.
            with contextlib.suppress(StoreError):
                version, rollouts = await self._store.change_marks()
                if await self._seen(version, on_version):
                    self.stats.polled += 1
                self._rollouts_moved(rollouts)
            async for note in conn.notifies():
                schema, _, text = note.payload.rpartition(":")
                if f"{schema}:" != mine:
                    continue  # another installation's, in another schema of this database
                try:
                    count = int(text)
                except ValueError:
                    log.warning("ignored a notification that is not a count: %r", note.payload[:80])
                    continue
                if note.channel == ROLLOUTS_CHANNEL:
                    self._rollouts_moved(count)
                elif await self._seen(count, on_version):
                    self.stats.notified += 1
