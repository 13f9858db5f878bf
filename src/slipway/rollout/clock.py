"""Clocks for the control loop (the `Clock` port): real time, and real time sped up for drills.

`ScaledClock` runs `scale` times faster than the wall clock from a fixed
`anchor` (epoch seconds): now() = anchor + (wall - anchor) · scale. Because
the anchor is fixed (and remembered across restarts), scaled times stay
monotonic when the process restarts, so a canary's phase timer resumes
where it was. Only the controller's schedule runs on it; request records
keep wall-clock times, and the judge's windows are wall-clock too.
"""

from __future__ import annotations

import asyncio
import time


class SystemClock:
    scale = 1.0

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    def __init__(self, scale: float, anchor: float) -> None:
        if scale <= 0:
            raise ValueError(f"clock scale must be positive, got {scale:g}")
        self.scale = scale
        self.anchor = anchor
        #: Where the clock stood (its own time) at `_since` (wall time); both `anchor` at first.
        self._at = anchor
        self._since = anchor

    def now(self) -> float:
        return self._at + (time.time() - self._since) * self.scale

    def set_scale(self, scale: float) -> None:
        """Run `scale` times faster than real time from now on, going on from the time it shows now.

        For a demo that finds its machine too slow for the speed it started at:
        nothing jumps, later times just come slower.
        """
        if scale <= 0:
            raise ValueError(f"clock scale must be positive, got {scale:g}")
        wall = time.time()
        self._at, self._since = self._at + (wall - self._since) * self.scale, wall
        self.scale = scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)
