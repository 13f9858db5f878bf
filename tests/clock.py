"""A clock the test moves by hand: hours of canary pass in one call, and nothing moves on its own.

The canary controller sleeps on it from the server's thread; `advance` from
the test's thread wakes every sleeper whose deadline has passed.
"""

from __future__ import annotations

import asyncio
import threading


class ManualClock:
    #: Moved by hand, not at a rate: warnings about request rates reckon as if in real time.
    scale = 1.0

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    async def sleep(self, seconds: float) -> None:
        deadline = self.now() + max(0.0, seconds)
        while self.now() < deadline:
            await asyncio.sleep(0.005)
