"""The control loop's clock: real time, or scaled (SLIPWAY_CLOCK_SCALE) for drills and tests."""

from __future__ import annotations

import logging
import os
import time

from slipway.core.errors import ConfigError
from slipway.core.ports import Clock
from slipway.rollout.clock import ScaledClock, SystemClock
from slipway.store.database import Store

log = logging.getLogger("slipway")

#: Where a scaled clock (SLIPWAY_CLOCK_SCALE, drills and tests) starts, so restarts keep its time.
CLOCK_ANCHOR_META_KEY = "clock.anchor"


async def control_clock(given: Clock | None, store: Store) -> Clock:
    """`given` if any; else a scaled clock anchored in the store, so a restart does not rewind it."""
    if given is not None:
        return given
    raw = os.environ.get("SLIPWAY_CLOCK_SCALE")
    if not raw:
        return SystemClock()
    try:
        scale = float(raw)
        if scale <= 0:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"SLIPWAY_CLOCK_SCALE={raw!r} is not a positive number",
            hint="unset it for real time, or e.g. SLIPWAY_CLOCK_SCALE=3600 for an hour per second",
        ) from None
    anchor_text = os.environ.get("SLIPWAY_CLOCK_ANCHOR") or await store.get_meta(CLOCK_ANCHOR_META_KEY)
    if anchor_text is None:
        anchor_text = repr(time.time())
        await store.set_meta(CLOCK_ANCHOR_META_KEY, anchor_text)
    log.warning("the control loop runs %g× faster than real time (SLIPWAY_CLOCK_SCALE)", scale)
    return ScaledClock(scale, float(anchor_text))
