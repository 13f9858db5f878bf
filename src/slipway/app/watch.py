"""Watching the config file: every save reaches the runtime, and nothing in the directory stops it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger("slipway")

#: Most symlinks followed from the config path to the file (a loop of links ends there).
MAX_LINKS = 40


def links_to(path: Path) -> frozenset[Path]:
    """The path, every symlink met on the way to the file it names, and that file.

    A Kubernetes ConfigMap mount is such a chain: `slipway.yaml` links to
    `..data/slipway.yaml`, and `..data` to a timestamped directory that an
    update replaces (a new directory, then `..data` renamed over). A change
    to any link in the chain changes what the path reads.
    """
    seen = [Path(os.path.abspath(path))]
    pending = list(seen[0].parts[1:])
    here = Path(seen[0].anchor)
    while pending and len(seen) < MAX_LINKS:
        step = here / pending.pop(0)
        if step.is_symlink():
            seen.append(step)
            target = Path(os.readlink(step))
            pending = [*(target.parts[1:] if target.is_absolute() else target.parts), *pending]
            here = Path(target.anchor) if target.is_absolute() else here
        elif step.name == "..":
            here = here.parent
        else:
            here = step
    seen.append(here)
    return frozenset(seen)


async def watch_file(path: Path, on_change: Callable[[], Awaitable[None]]) -> None:
    """Call `on_change` whenever the file changes, until cancelled.

    The directories that hold the path and the links it goes through are
    watched (editors save by writing a new file and renaming it over the old
    one, which a watch on the file itself would lose; a ConfigMap update
    replaces the directory the file is in). Only events for the path or one
    of those links get through: a log written beside the file
    (`slipway serve > gw.log`) once woke this loop, and its own log line,
    hundreds of times a minute. When the chain of links changed, the watch
    starts again on the new one.
    """
    from watchfiles import Change, awatch

    # Its "N changes detected" says less than our own line about what was applied.
    logging.getLogger("watchfiles").setLevel(max(logging.WARNING, log.getEffectiveLevel()))

    while True:
        chain = links_to(path)
        folders = sorted({p.parent for p in chain if p.parent.is_dir()})

        def in_chain(_change: Change, changed: str, chain: frozenset[Path] = chain) -> bool:
            return Path(changed) in chain

        try:
            async for _changes in awatch(
                *folders, watch_filter=in_chain, debounce=150, step=50, recursive=False
            ):
                await on_change()
                if links_to(path) != chain:
                    break
            else:
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("the config watcher failed (%s: %s); watching again in 1 s", type(exc).__name__, exc)
            await asyncio.sleep(1.0)
