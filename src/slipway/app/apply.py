"""Applying the config file: at start, on `slipway reload`, and on every save the watcher sees.

The file goes through the same validated transition as an API call; a file
that is refused (unreadable, invalid, or sending traffic to a slot that is
not ready) leaves the running configuration in force, and says why in
`ConfigState.error` for `slipway status`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.app.config_file import CONFIG_META_KEY, CONFIG_TEXT_META_KEY, LoadedConfig, read_config_file
from slipway.app.started import Started
from slipway.core.errors import ConfigError, SlipwayError
from slipway.gateway.route_table import RouteHolder

log = logging.getLogger("slipway")


@dataclass
class ConfigState:
    """The config in force (the file as last read, even when refused) and how its file last fared."""

    loaded: LoadedConfig | None
    error: str | None = None
    applied_at: float | None = None
    #: Why the file's routes are not the ones served, when it was read but deliberately not applied.
    not_applied: str | None = None


class ConfigApplier:
    def __init__(
        self,
        path: Path | None,
        state: ConfigState,
        routes: RouteHolder,
        first_read: LoadedConfig | ConfigError | None,
        *,
        apply_at_start: bool = False,
    ) -> None:
        self._path = path
        #: At start, apply the file's routes even when the store already serves other ones.
        self._apply_at_start = apply_at_start
        self.state = state
        self._routes = routes
        #: The file as read at construction (or why it could not be): start-up reads it only there.
        self._first_read = first_read

    async def apply(
        self, s: Started, *, actor: str, at_start: bool = False, force: bool = False
    ) -> dict[str, Any]:
        """Read the file (at start: the reading made at construction) and apply it to the routes."""
        path = self._path
        if path is None:
            raise ConfigError(
                "slipway was started without --config, so there is no file to reload",
                hint="restart with --config FILE, or change routes with the API",
            )
        try:
            if at_start and self._first_read is not None:
                # Read once at construction: start-up does not parse the file again.
                first, self._first_read = self._first_read, None
                if isinstance(first, ConfigError):
                    raise first
                loaded = first
            else:
                # Off the event loop: even a file at the size limit must not hold up requests or /healthz.
                loaded = await asyncio.to_thread(read_config_file, path)
        except ConfigError as exc:
            self.state.error = str(exc)
            if at_start and self._routes.table is not None:
                # A restart must not turn a bad edit into an outage: serve the stored routes.
                log.error("config file rejected at start; serving the stored routes: %s", exc)
                return {"applied": False, "reason": str(exc)}
            if not at_start:
                log.error("config rejected, keeping the running configuration: %s", exc)
            raise
        config = loaded.routing
        digest = loaded.digest
        if await s.store.get_meta(CONFIG_META_KEY) == digest and self._routes.table is not None:
            self.state.error = None
            self.state.loaded = loaded
            return {"applied": False, "reason": "file unchanged since it was last applied"}
        previous = self.state.loaded
        self.state.loaded = loaded
        s.shadow.configure()
        if at_start and self._routes.table is not None and not self._apply_at_start:
            return await self._keep_the_stores_routes(s, loaded)
        try:
            table = await s.operator.apply_routing_file(
                config.to_route_table(0),
                actor=actor,
                reason=f"applied {path}" + (" at start" if at_start else ""),
                force=force,
                force_hint=(
                    "start that backend and save the file again (or run `slipway reload`), "
                    "or apply it anyway: slipway reload --force"
                ),
                unready_note="applied with --force past the readiness check",
            )
        except SlipwayError as exc:
            # Refused (a slot it would send traffic to is not ready) or the store failed:
            # the running configuration stays, and `slipway status` says why.
            self.state.loaded = previous
            s.shadow.configure()
            self.state.error = str(exc)
            if at_start and self._routes.table is not None:
                log.error("config file not applied at start; serving the stored routes: %s", exc)
                return {"applied": False, "reason": str(exc)}
            log.error("config not applied, keeping the running configuration: %s", exc)
            raise
        self.state.error = None
        self.state.not_applied = None
        await s.store.set_meta(CONFIG_META_KEY, digest)
        await s.store.set_meta(CONFIG_TEXT_META_KEY, loaded.text)
        self.state.applied_at = time.time()
        return {"applied": True, "route_version": table.version, "active": table.active}

    async def _keep_the_stores_routes(self, s: Started, loaded: LoadedConfig) -> dict[str, Any]:
        """Start on the routes every other replica serves; say what the file would change, change nothing.

        The store holds the live routes. A replica started with another file
        (an old copy, a typo, another team's) must not move production's
        traffic as a side effect of starting: the operator applies it on
        purpose with `slipway reload`, by saving the watched file, or by
        starting with --apply-config. The file's other settings (thresholds,
        canary defaults, limits) are this process's own and take effect.
        """
        differences = await s.operator.routing_file_differences(loaded.routing.to_route_table(0))
        self.state.error = None
        if not differences:
            self.state.not_applied = None
            return {"applied": False, "reason": "the store already serves the file's routes"}
        table = s.controller.table
        note = (
            f"{self._path}'s routes differ from the ones the store holds (route v{table.version}), which "
            f"this replica serves: {'; '.join(differences)}. Apply the file with `slipway reload`, "
            "or start with --apply-config"
        )
        self.state.not_applied = note
        log.warning("%s", note)
        return {"applied": False, "reason": note}

    async def reload(self, s: Started, actor: str, force: bool = False) -> dict[str, Any]:
        return await self.apply(s, actor=actor, force=force)

    async def apply_watched(self, s: Started) -> None:
        """A save seen by the watcher: applied, or logged and shown by status; never raised."""
        try:
            result = await self.apply(s, actor="config-file (watch)")
        except SlipwayError:
            return  # logged, and shown by `slipway status`; the running configuration stays
        except Exception as exc:
            self.state.error = f"the config file could not be applied: {type(exc).__name__}: {exc}"
            log.exception("config file change not applied; keeping the running configuration")
            return
        if result.get("applied"):
            log.info("config file change applied: route v%s", result.get("route_version"))
