"""Composition root: builds the adapters, wires the ports, owns the lifespan.

`slipway serve` runs one process with the gateway (hot path), the admin API
and the config watcher; state lives in the store, the YAML file is an input
applied through the same validated transition as an API call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError as PydanticValidationError

from slipway.analysis.output_checks import OutputCheck, OutputChecksConfig, build_checks
from slipway.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from slipway.backends.engine.fleet import EngineFleet, EngineSpec
from slipway.backends.engine.provision import EngineProvisioner
from slipway.backends.factory import SlotBackends
from slipway.backends.provisioners import ProvisionerChain, VllmAdapterProvisioner
from slipway.core.canary_plan import CanaryPlan
from slipway.core.config import (
    CanaryConfig,
    GatewayConfig,
    NotifyConfig,
    RoutingConfig,
    dump_config,
    parse_config,
    read_config_text,
)
from slipway.core.deployments import Deployment
from slipway.core.errors import ConfigError, NotFoundError, SlipwayError, StoreError
from slipway.core.lora import ENGINE_SCHEME, EngineDirectory
from slipway.core.ports import Clock, Notifier
from slipway.core.shadow_config import ShadowConfig
from slipway.core.types import RouteChange
from slipway.gateway.app import GatewayApp
from slipway.gateway.connections import ConnectionLimits, ConnectionStats, fd_budget, guarded_protocol
from slipway.gateway.metrics import TrafficMetrics
from slipway.gateway.proxy import Proxy
from slipway.gateway.recorder import Recorder
from slipway.gateway.route_table import RouteHolder
from slipway.gateway.tuning import freeze_startup_heap
from slipway.notify.fanout import Fanout, When
from slipway.notify.log import LogNotifier
from slipway.notify.webhook import WebhookNotifier, WebhookSettings
from slipway.registry.validate import open_base, validate_adapter
from slipway.rollout.analysis_judge import AnalysisJudge, thresholds_from
from slipway.rollout.canary_controller import CanaryController
from slipway.rollout.clock import ScaledClock, SystemClock
from slipway.rollout.controller import RouteController
from slipway.shadow_service import ShadowService
from slipway.store.database import Store, default_store_url, open_store
from slipway.web.admin import create_admin_app
from slipway.web.auth import TokenGuard, token_problem
from slipway.web.guard import AdminGuard, HostPolicy

log = logging.getLogger("slipway")

#: How far back a canary deploy looks to estimate the traffic its phases will get.
TRAFFIC_WINDOW_S = 3_600.0
MIN_TRAFFIC_WINDOW_S = 60.0
#: How long GET /readyz waits for the store to answer.
READY_STORE_TIMEOUT_S = 1.0

CONFIG_META_KEY = "config.sha256"
#: The last applied file itself: engines come back from it when the file is broken at a restart.
CONFIG_TEXT_META_KEY = "config.text"
#: Engines started by deploys (adapters the configured engines had not loaded), as JSON.
DEPLOYED_ENGINES_META_KEY = "engines.deployed"
#: Where a scaled clock (SLIPWAY_CLOCK_SCALE, drills and tests) starts, so restarts keep its time.
CLOCK_ANCHOR_META_KEY = "clock.anchor"


@dataclass(frozen=True)
class ServeSettings:
    config_path: Path | None = None
    store_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    watch_config: bool = True
    workdir: Path = Path(".")
    #: The control loop's clock; default: real time, or SLIPWAY_CLOCK_SCALE times faster.
    clock: Clock | None = None
    #: Names clients use for this server besides localhost, IPs and `host` (--allowed-host).
    allowed_hosts: tuple[str, ...] = ()

    def resolved_store_url(self) -> str:
        return self.store_url or default_store_url(self.workdir)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_admin_exposure(settings: ServeSettings) -> None:
    problem = token_problem(settings.admin_token)
    if problem is not None:
        raise problem
    if not settings.admin_token and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to serve the admin API on {settings.host} without a token",
            hint="set SLIPWAY_ADMIN_TOKEN to a long random secret, or bind to 127.0.0.1",
        )


def engine_specs(config: RoutingConfig, base_dir: Path) -> dict[str, EngineSpec]:
    """Resolve each engine's files and validate every adapter against its base before launch.

    llama-server exits at start-up if one adapter is bad, taking the good ones
    with it, and never notices an adapter made for another base of the same
    shape; the registry's checks catch both, with the file and the fix named.
    """
    specs: dict[str, EngineSpec] = {}
    for name, engine in config.engines.items():
        base = (base_dir / engine.base).resolve()
        if not base.is_file():
            raise ConfigError(
                f"engines.{name}.base: {base} does not exist",
                hint="fix the path (relative paths are relative to the config file)",
                field=f"engines.{name}.base",
            )
        opened = open_base(base)
        adapters = tuple((base_dir / a).resolve() for a in engine.adapters)
        for adapter in adapters:
            validate_adapter(adapter, opened).raise_for_failure()
        specs[name] = EngineSpec(
            name=name,
            base=base,
            adapters=adapters,
            port=engine.port or None,
            ctx_size=engine.ctx_size,
            parallel=engine.parallel,
            args=tuple(engine.args),
        )
    return specs


def _validate_for_engine(adapter: Path, base: Path) -> None:
    validate_adapter(adapter, open_base(base)).raise_for_failure()


def _specs_to_json(specs: dict[str, EngineSpec]) -> str:
    return json.dumps(
        {
            name: {**asdict(spec), "base": str(spec.base), "adapters": [str(a) for a in spec.adapters]}
            for name, spec in specs.items()
        }
    )


def _specs_from_json(text: str) -> dict[str, EngineSpec]:
    out: dict[str, EngineSpec] = {}
    for name, raw in json.loads(text).items():
        out[name] = EngineSpec(
            name=name,
            base=Path(raw["base"]),
            adapters=tuple(Path(a) for a in raw["adapters"]),
            port=raw.get("port"),
            ctx_size=raw["ctx_size"],
            parallel=raw["parallel"],
            args=tuple(raw.get("args", ())),
        )
    return out


def canary_analysis(
    config: RoutingConfig | None, source: str | None = None
) -> tuple[Thresholds, tuple[OutputCheck, ...]]:
    """The judge's threshold table and output checks from `canary:` (the seed's defaults without it)."""
    if config is None:
        return DEFAULT_THRESHOLDS, build_checks()
    parts: list[Any] = []
    readers = (("thresholds", thresholds_from), ("output_checks", OutputChecksConfig.model_validate))
    for name, read in readers:
        try:
            parts.append(read(getattr(config.canary, name)))
        except PydanticValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(["canary", name, *(str(p) for p in err["loc"])])
            raise ConfigError(
                str(err["msg"]).removeprefix("Value error, "),
                hint="see docs/config.md (canary) for the fields and their defaults",
                source=source,
                field=where,
            ) from None
    return parts[0], build_checks(parts[1])


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Runtime:
    """Everything one `slipway serve` process owns, started and stopped by the lifespan."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.routes = RouteHolder(None)
        self.store: Store | None = None
        self.recorder: Recorder | None = None
        #: Per-slot request counters and histograms for GET /metrics (counted as records are queued).
        self.traffic = TrafficMetrics()
        #: What the front door refused or cut (connection cap, header and body deadlines).
        self.connections = ConnectionStats()
        self.engines = EngineDirectory()
        self.backends = SlotBackends(engines=self.engines)
        self.fleet = EngineFleet(self.engines, log_dir=settings.workdir / ".slipway" / "logs")
        self.provisioner = EngineProvisioner(
            self.fleet, self.engines, _validate_for_engine, self._remember_deployed_engines
        )
        self.config: RoutingConfig | None = None
        self.config_error: str | None = None
        self.config_applied_at: float | None = None
        self._controller: RouteController | None = None
        self._canary: CanaryController | None = None
        self._shadow: ShadowService | None = None
        self.webhooks = WebhookNotifier(self._webhook_settings)
        self._watch_task: asyncio.Task[None] | None = None
        self.started_at = time.time()
        self.proxy: Proxy | None = None

    @property
    def controller(self) -> RouteController:
        assert self._controller is not None, "runtime not started"
        return self._controller

    @property
    def canary(self) -> CanaryController:
        assert self._canary is not None, "runtime not started"
        return self._canary

    @property
    def shadow(self) -> ShadowService:
        assert self._shadow is not None, "runtime not started"
        return self._shadow

    def shadow_config(self) -> ShadowConfig:
        return self.config.shadow if self.config is not None else ShadowConfig()

    def canary_plan(self, steps: str | None, interval: str | None) -> CanaryPlan:
        """The operator's --steps/--interval over the config's `canary:` defaults (the seed's values)."""
        defaults = self.config.canary if self.config is not None else CanaryConfig()
        return defaults.plan(steps, interval)

    def canary_thresholds(self) -> Thresholds:
        return canary_analysis(self.config)[0]

    def output_checks(self) -> tuple[OutputCheck, ...]:
        return canary_analysis(self.config)[1]

    def _notify_config(self) -> NotifyConfig:
        return self.config.notify if self.config is not None else NotifyConfig()

    def _webhook_settings(self) -> WebhookSettings:
        cfg = self._notify_config()
        return WebhookSettings(urls=tuple(cfg.webhooks), timeout_s=cfg.timeout_s, retries=cfg.retries)

    def notifier(self) -> Notifier:
        """The log (unless `notify.log: false`) and the webhooks; settings are read per notification."""
        return Fanout([When(LogNotifier(), lambda: self._notify_config().log), self.webhooks])

    async def _clock(self) -> Clock:
        if self.settings.clock is not None:
            return self.settings.clock
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
        assert self.store is not None
        anchor_text = os.environ.get("SLIPWAY_CLOCK_ANCHOR") or await self.store.get_meta(
            CLOCK_ANCHOR_META_KEY
        )
        if anchor_text is None:
            anchor_text = repr(time.time())
            await self.store.set_meta(CLOCK_ANCHOR_META_KEY, anchor_text)
        log.warning("the control loop runs %g× faster than real time (SLIPWAY_CLOCK_SCALE)", scale)
        return ScaledClock(scale, float(anchor_text))

    def allowed_hosts(self) -> list[str]:
        return self.config.gateway.allowed_hosts if self.config is not None else []

    def public_model(self) -> str:
        if self.config is not None and self.config.gateway.public_model:
            return self.config.gateway.public_model
        table = self.routes.table
        if table is None:
            return "slipway"
        return table.name or table.active_slot.model

    async def start(self) -> None:
        self.store = await open_store(self.settings.resolved_store_url())
        gateway_cfg = self.config.gateway if self.config else None
        self.recorder = Recorder(
            self.store,
            max_queue=gateway_cfg.record_queue_size if gateway_cfg else 100_000,
            batch_size=gateway_cfg.record_batch_size if gateway_cfg else 1_000,
            flush_interval_s=gateway_cfg.record_flush_interval_s if gateway_cfg else 0.25,
            metrics=self.traffic,
            instance=f"{socket.gethostname()}:{self.settings.port}",
        )
        await self.recorder.open()
        self.recorder.start()
        assert self.proxy is not None
        self.proxy.bind_recorder(self.recorder)
        await self.proxy.start()
        provisioners = ProvisionerChain([self.provisioner, VllmAdapterProvisioner(self.backends.vllm)])
        self._controller = RouteController(
            self.store, self.routes, self.store, self.backends, provisioner=provisioners
        )
        await self._controller.load()
        self._canary = CanaryController(
            store=self.store,
            routes=self._controller,
            deployments=self.store,
            judge=AnalysisJudge(self.store, self.canary_thresholds, self.output_checks),
            notifier=self.notifier(),
            clock=await self._clock(),
            before_check=self.recorder.flush,
            traffic_per_day=self.recent_traffic_per_day,
        )
        self._shadow = ShadowService(
            store=self.store,
            routes=self._controller,
            deployments=self.store,
            canary=self._canary,
            notifier=self.notifier(),
            clock=self._canary.clock,
            proxy=self.proxy,
            config=self.shadow_config,
        )
        await self._start_engines()
        if self.settings.config_path is not None:
            await self._apply_file(actor="config-file", at_start=True)
        if self.routes.table is None:
            raise ConfigError(
                f"no routes: the store at {self.store.where} is empty and no config file was given",
                hint="start with --config slipway.yaml (the seed's model_routing.yaml works as-is)",
            )
        if self.settings.config_path is not None and self.settings.watch_config:
            self._watch_task = asyncio.create_task(self._watch(), name="slipway-config-watch")
        self.webhooks.start()
        self._canary.start()
        self._shadow.start()

    async def _start_engines(self) -> None:
        """Engines from the config file, or from the last applied one if the file is unreadable now."""
        assert self.store is not None
        config: RoutingConfig | None = None
        base_dir = self.settings.workdir
        if self.settings.config_path is not None:
            base_dir = self.settings.config_path.resolve().parent
            with contextlib.suppress(ConfigError):
                config, _text = self.read_config_file()
        if config is None:
            stored = await self.store.get_meta(CONFIG_TEXT_META_KEY)
            if stored:
                config = parse_config(stored, "the last applied config (kept in the store)")
        if config is not None and config.engines:
            await self.fleet.start(engine_specs(config, base_dir))
        deployed = await self.store.get_meta(DEPLOYED_ENGINES_META_KEY)
        if deployed:
            specs = _specs_from_json(deployed)
            # One whose slot was replaced before the last stop has nothing left to serve.
            table = self.routes.table
            routed = {slot.endpoint for slot in table.slots.values()} if table is not None else set()
            unused = [name for name in specs if ENGINE_SCHEME + name not in routed]
            for name in unused:
                log.info("not starting engine %s: no slot routes to it any more", name)
                del specs[name]
            if unused:
                await self._remember_deployed_engines(specs)
            for spec in specs.values():
                for adapter in spec.adapters:
                    _validate_for_engine(adapter, spec.base)
            await self.fleet.start(specs)
            self.provisioner.started.update(specs)

    async def _remember_deployed_engines(self, specs: dict[str, EngineSpec]) -> None:
        assert self.store is not None
        await self.store.set_meta(DEPLOYED_ENGINES_META_KEY, _specs_to_json(specs))

    async def stop(self) -> None:
        if self._canary is not None:
            await self._canary.stop()
        if self._shadow is not None:
            await self._shadow.stop()
        await self.webhooks.close()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        if self.proxy is not None:
            await self.proxy.close()
        if self._controller is not None:
            await self._controller.close()
        await self.fleet.stop()
        if self.recorder is not None:
            await self.recorder.close()
        if self._shadow is not None:
            await self._shadow.close_writer()
        await self.backends.close()
        if self.store is not None:
            await self.store.close()

    def read_config_file(self) -> tuple[RoutingConfig, str]:
        """Read, parse and validate the file; blocking, so the running gateway calls it in a thread.

        Any file at all ends in a config or a ConfigError (read_config_text and
        parse_config bound size, nesting and aliases), never in another
        exception that would stop the watcher or turn a reload into a 500.
        """
        path = self.settings.config_path
        assert path is not None
        text = read_config_text(path)
        config = parse_config(text, str(path))
        try:
            canary_analysis(config, str(path))
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"canary: {type(exc).__name__}: {exc}", hint="see docs/config.md (canary)", source=str(path)
            ) from exc
        return config, text

    async def _apply_file(self, *, actor: str, at_start: bool = False, force: bool = False) -> dict[str, Any]:
        assert self.store is not None
        try:
            # Off the event loop: even a file at the size limit must not hold up requests or /healthz.
            config, text = await asyncio.to_thread(self.read_config_file)
        except ConfigError as exc:
            self.config_error = str(exc)
            if at_start and self.routes.table is not None:
                # A restart must not turn a bad edit into an outage: serve the stored routes.
                log.error("config file rejected at start; serving the stored routes: %s", exc)
                return {"applied": False, "reason": str(exc)}
            if not at_start:
                log.error("config rejected, keeping the running configuration: %s", exc)
            raise
        digest = _sha(text)
        if await self.store.get_meta(CONFIG_META_KEY) == digest and self.routes.table is not None:
            self.config_error = None
            self.config = config
            return {"applied": False, "reason": "file unchanged since it was last applied"}
        previous = self.config
        self.config = config
        if self._shadow is not None:
            self._shadow.configure()
        try:
            table = await self.controller.apply_table(
                await self.shadow.keep_shadow(await self.canary.keep_canary(config.to_route_table(0))),
                actor=actor,
                reason=f"applied {self.settings.config_path}" + (" at start" if at_start else ""),
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
            self.config = previous
            if self._shadow is not None:
                self._shadow.configure()
            self.config_error = str(exc)
            if at_start and self.routes.table is not None:
                log.error("config file not applied at start; serving the stored routes: %s", exc)
                return {"applied": False, "reason": str(exc)}
            log.error("config not applied, keeping the running configuration: %s", exc)
            raise
        self.config_error = None
        await self.store.set_meta(CONFIG_META_KEY, digest)
        await self.store.set_meta(CONFIG_TEXT_META_KEY, text)
        self.config_applied_at = time.time()
        return {"applied": True, "route_version": table.version, "active": table.active}

    async def reload(self, actor: str, force: bool = False) -> dict[str, Any]:
        if self.settings.config_path is None:
            raise ConfigError(
                "slipway was started without --config, so there is no file to reload",
                hint="restart with --config FILE, or change routes with the API",
            )
        return await self._apply_file(actor=actor, force=force)

    async def _watch(self) -> None:
        """Apply the config file whenever it changes; nothing in it, or in its directory, stops this.

        The directory is watched (editors save by writing a new file and
        renaming it over the old one, which a watch on the file itself would
        lose), but only events for the config file get through the filter: a
        log written beside it (`slipway serve > gw.log`) once woke this loop,
        and its own log line, hundreds of times a minute.
        """
        from watchfiles import Change, awatch

        path = self.settings.config_path
        assert path is not None
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
                    await self._apply_watched()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "the config watcher failed (%s: %s); watching again in 1 s", type(exc).__name__, exc
                )
                await asyncio.sleep(1.0)

    async def _apply_watched(self) -> None:
        try:
            result = await self._apply_file(actor="config-file (watch)")
        except SlipwayError:
            return  # logged, and shown by `slipway status`; the running configuration stays
        except Exception as exc:
            self.config_error = f"the config file could not be applied: {type(exc).__name__}: {exc}"
            log.exception("config file change not applied; keeping the running configuration")
            return
        if result.get("applied"):
            log.info("config file change applied: route v%s", result.get("route_version"))

    async def history(self, limit: int) -> list[RouteChange]:
        assert self.store is not None
        return await self.store.route_history(limit)

    async def deployments(self, limit: int) -> list[Deployment]:
        assert self.store is not None
        return await self.store.list_deployments(limit)

    async def request(self, request_id: str) -> dict[str, Any]:
        """One request's record and latest feedback; flushes first, so a request just answered shows."""
        assert self.store is not None and self.recorder is not None
        await self.recorder.flush()
        rec = await self.store.get_request(request_id)
        if rec is None:
            raise NotFoundError(
                f"no request with id {request_id!r}",
                hint="ids come from the X-Slipway-Request-Id response header; old records may be pruned",
            )
        feedback = await self.store.latest_feedback(request_id)
        return {"request": asdict(rec), "feedback": asdict(feedback) if feedback else None}

    def export_config(self) -> str:
        table = self.controller.table
        return dump_config(table, table.name, engines=self.config.engines if self.config else None)

    async def recent_traffic_per_day(self) -> float | None:
        """Requests/day over the last hour, from its first request on; None under a minute of traffic.

        Measured from the first request rather than from the window's start,
        so a gateway that just started (or sat idle) is not taken for a quiet one.
        """
        assert self.store is not None and self.recorder is not None
        await self.recorder.flush()
        now = time.time()
        served, first = await self.store.traffic_since(now - TRAFFIC_WINDOW_S)
        if first is None or now - first < MIN_TRAFFIC_WINDOW_S:
            return None
        return served / (now - first) * 86_400.0

    async def readiness(self) -> list[str]:
        """Why this process should not get traffic yet (nothing: ready), in words safe to show anyone.

        Ready means routes are loaded, the store answers within a short timeout and
        the record writer runs: a gateway that cannot record would answer requests
        that no canary, shadow run or rollback decision ever sees.
        """
        reasons = []
        if self.routes.table is None:
            reasons.append("no routes loaded")
        if self.store is None:
            reasons.append("store not open")
        else:
            try:
                await self.store.ping(READY_STORE_TIMEOUT_S)
            except StoreError:
                reasons.append(f"store did not answer within {READY_STORE_TIMEOUT_S:g} s")
        if self.recorder is None or not self.recorder.alive:
            reasons.append("record writer not running")
        return reasons

    async def status(self) -> dict[str, Any]:
        assert self.store is not None and self.recorder is not None and self.proxy is not None
        table = self.controller.table
        store_error: str | None = None
        try:
            traffic = await self.store.request_counts(since=time.time() - 300)
            deployments = await self.store.list_deployments(limit=1)
            canary = await self._canary.current() if self._canary is not None else None
            shadow = await self._shadow.controller.current() if self._shadow is not None else None
        except StoreError as exc:
            # While the store is down the recorder's health matters most: show the rest anyway.
            store_error = str(exc)
            traffic, deployments, canary, shadow = {}, [], None, None
        slots = []
        for slot in table.slots.values():
            info: dict[str, Any] = {
                "name": slot.name,
                "state": "active" if slot.name == table.active else "standby",
                "endpoint": slot.endpoint,
                "kind": str(slot.kind),
                "model": slot.model,
                "version": slot.version_label,
                "adapter": slot.adapter,
                "weight_pct": table.effective_weights().get(slot.name, 0) / 100,
                "requests_5m": traffic.get(slot.name, {}).get("total", 0),
                "errors_5m": traffic.get(slot.name, {}).get("errors", 0),
            }
            if slot.api_key_env and not os.environ.get(slot.api_key_env):
                info["warning"] = f"environment variable {slot.api_key_env} is not set"
            slots.append(info)
        return {
            "route": {
                "version": table.version,
                "active": table.active,
                "previous_active": table.previous_active,
                "weights_pct": {k: v / 100 for k, v in table.weights.items()},
                "name": table.name,
                "mirror": {"slot": table.mirror, "sample_pct": table.mirror_bp / 100, "run": table.mirror_run}
                if table.mirror
                else None,
            },
            "slots": slots,
            "recorder": self.recorder.health(),
            "in_flight": self.proxy.in_flight,
            "config": {
                "path": str(self.settings.config_path) if self.settings.config_path else None,
                "last_error": self.config_error,
            },
            "store": self.store.where,
            "store_error": store_error,
            "engines": self.fleet.status(),
            "uptime_s": round(time.time() - self.started_at, 1),
            "canary": (
                {
                    "version": canary.version,
                    "status": str(canary.status),
                    "weight_pct": canary.weight_bp / 100,
                }
                if canary is not None
                else None
            ),
            "shadow": (
                {
                    "version": shadow.version,
                    "status": str(shadow.status),
                    "candidate": shadow.candidate,
                    "sample_pct": shadow.sample_bp / 100,
                    "mirror": {**asdict(self._shadow.mirror.stats), "queued": self._shadow.mirror.queued},
                }
                if shadow is not None and self._shadow is not None
                else None
            ),
            "connections": asdict(self.connections),
            "last_deployment": (
                {
                    "id": deployments[0].id,
                    "version": deployments[0].version,
                    "status": str(deployments[0].status),
                }
                if deployments
                else None
            ),
        }


def create_app(settings: ServeSettings) -> tuple[GatewayApp, Runtime]:
    """The whole ASGI application for one process, and the runtime behind it."""
    check_admin_exposure(settings)
    runtime = Runtime(settings)
    max_body = 4 * 1024 * 1024
    if settings.config_path is not None:
        # Read once up front for the gateway's own settings; errors surface at start.
        with contextlib.suppress(ConfigError):
            runtime.config, _ = runtime.read_config_file()
            max_body = runtime.config.gateway.max_body_bytes
    runtime.proxy = Proxy(
        runtime.routes, None, max_body_bytes=max_body, resolve_engine=runtime.backends.engine
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
        except BaseException:
            await runtime.stop()
            raise
        try:
            yield
        finally:
            await runtime.stop()

    token = TokenGuard(settings.admin_token)
    admin = create_admin_app(runtime, token, lifespan)
    hosts = HostPolicy(settings.host, lambda: (*settings.allowed_hosts, *runtime.allowed_hosts()))
    gateway = GatewayApp(
        runtime.routes,
        runtime.proxy,
        lambda: runtime.recorder,
        lambda: runtime.store,
        AdminGuard(admin, token, hosts),
        public_model=runtime.public_model,
    )
    return gateway, runtime


def serve(settings: ServeSettings) -> None:
    """Run until SIGINT/SIGTERM. Start-up problems (bad config, no routes, store) raise SlipwayError.

    The runtime starts before uvicorn binds, outside the ASGI lifespan, so a
    refused start is one clear error for the CLI to print rather than a
    lifespan traceback, and no port is open while nothing could be served.
    """
    import uvicorn
    import uvloop

    app, runtime = create_app(settings)
    gateway = runtime.config.gateway if runtime.config is not None else GatewayConfig()
    limits = ConnectionLimits(
        max_connections=fd_budget(gateway.max_connections),
        header_timeout_s=gateway.header_timeout_s,
        body_timeout_s=gateway.body_timeout_s,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="none",
        http=guarded_protocol(limits, runtime.connections),
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        try:
            await runtime.start()
        except BaseException:
            await runtime.stop()
            raise
        freeze_startup_heap()
        try:
            await server.serve()
        finally:
            await runtime.stop()

    # uvicorn re-raises the SIGTERM/SIGINT it handled once it has shut down, under the
    # handlers that were installed before it started. With Python's defaults that kills the
    # process before `runtime.stop()`: queued records lost, engines orphaned. These handlers
    # make the re-raise harmless; uvicorn's own handlers still do the graceful shutdown.
    def on_signal(signum: int, _frame: object) -> None:
        if not server.started:
            raise KeyboardInterrupt(f"signal {signum} during start-up")
        log.info("signal %d after shutdown began; finishing the clean stop", signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvloop.run(main())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
