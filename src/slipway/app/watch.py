"""Watching the config file: every save reaches the runtime, and nothing in the directory stops it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger("slipway")


async def watch_file(path: Path, on_change: Callable[[], Awaitable[None]]) -> None:
    """Call `on_change` whenever the file changes, until cancelled.

    The directory is watched (editors save by writing a new file and
    renaming it over the old one, which a watch on the file itself would
    lose), but only events for the config file get through the filter: a
    log written beside it (`slipway serve > gw.log`) once woke this loop,
    and its own log line, hundreds of times a minute.
    """
    from watchfiles import Change, awatch

    target = path.resolve()
    # Its "N changes detected" says less than our own line about what was applied.
    logging.getLogger("watchfiles").setLevel(max(logging.WARNING, log.getEffectiveLevel()))

    def only_the_config(_change: Change, changed: str) -> bool:
        return Path(changed) == target

    while True:
        try:
            async for _changes in awatch(
                target.parent, watch_filter=only_the_config, debounce=150, step=50, recursive=False
            ):
                await on_change()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("the config watcher failed (%s: %s); watching again in 1 s", type(exc).__name__, exc)
            await asyncio.sleep(1.0)
