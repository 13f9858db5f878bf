"""This replica's undelivered notifications, kept in the store while it runs, not only as it stops.

A `slipway serve` killed with `kill -9` (the OOM killer, a lost node) has no
clean stop in which to write what its sinks have not received: whatever it
kept only in memory would be lost, the "canary rolled back" alert with it.
So each change of the undelivered set is written at once, one write at a
time and at most one per `every_s` (a burst of notifications costs one
write, not one each); an empty set deletes the key. Once this replica stops
beating, another one takes the key over (see `takeover`).

A store that fails is logged once and once again when it recovers; the
write is tried again later, and nothing is ever raised into a notifier or a
request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from slipway.core.errors import SlipwayError
from slipway.core.ports import KeptStore
from slipway.notify.background import Forever

log = logging.getLogger("slipway.notify")


class Keeper:
    def __init__(
        self,
        store: KeptStore,
        key: str,
        snapshot: Callable[[], str | None],
        *,
        every_s: float = 1.0,
        retry_s: float = 5.0,
    ) -> None:
        """`snapshot()`: the set to keep now, as the value to write; None when nothing is pending."""
        self._store = store
        self._key = key
        self._snapshot = snapshot
        self._every_s = every_s
        self._retry_s = retry_s
        self._dirty = asyncio.Event()
        #: What the store holds under the key (None: no key), as far as this keeper knows.
        self._written: str | None = None
        self._known = False
        self._failing = False
        self._forever = Forever("slipway-notify-keeper", self._run)
        #: Writes made (tests read it).
        self.writes = 0

    def changed(self) -> None:
        """The undelivered set changed: write it soon (never blocks, never raises)."""
        self._dirty.set()

    def start(self) -> None:
        self._dirty.set()
        self._forever.start()

    async def close(self) -> None:
        """Stop writing; a write in flight still lands (the store runs its writes in order)."""
        await self._forever.close()

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if await self.write_now():
                await asyncio.sleep(self._every_s)
            else:
                await asyncio.sleep(self._retry_s)
                self._dirty.set()

    async def write_now(self) -> bool:
        """Write the set if it differs from what the store holds; False when that failed (logged)."""
        try:
            value = self._snapshot()
            if self._known and value == self._written:
                return True
            if value is None:
                await self._store.delete_meta(self._key)
            else:
                await self._store.set_meta(self._key, value)
        except SlipwayError as exc:
            self._failed(str(exc), trace=False)
            return False
        except Exception as exc:  # a bug: logged like a store failure, tried again, never raised
            self._failed(f"{type(exc).__name__}: {exc}", trace=True)
            return False
        self._written, self._known = value, True
        self.writes += 1
        if self._failing:
            log.info("the undelivered notifications are kept in the store again")
            self._failing = False
        return True

    def _failed(self, problem: str, *, trace: bool) -> None:
        self._known = False
        if not self._failing:
            log.error(
                "cannot keep the undelivered notifications in the store (%s); trying again, "
                "but a crash now would lose them",
                problem,
                exc_info=trace,
            )
        self._failing = True
