"""Everything one `slipway serve` process owns, and the order it starts and stops in.

State lives in the store; the YAML file is an input applied through the same
validated transition as an API call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, replace
from typing import Any

from slipway.analysis.output_checks import DEFAULT_CHECKS, OutputCheck
from slipway.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from slipway.app.adapter_reconcile import AdapterReconcileLoop
from slipway.app.apply import ConfigApplier, ConfigState
from slipway.app.checklist import ChecklistDeps, ChecklistRunner, engine_model_files, plan_fit
from slipway.app.checklist_gate import ChecklistGate
from slipway.app.clock import control_clock
from slipway.app.config_file import CONFIG_TEXT_META_KEY, LoadedConfig, read_config_file
from slipway.app.daily import DailySummary
from slipway.app.drift_watch import DriftWatch
from slipway.app.drills import Drills, build_drills
from slipway.app.engines import (
    DEPLOYED_ENGINES_META_KEY,
    engine_specs,
    specs_from_json,
    specs_to_json,
    validate_for_engine,
)
from slipway.app.evaluations import EvalRunner
from slipway.app.interrupted_deploys import InterruptedDeploys
from slipway.app.notifiers import Notifiers
from slipway.app.postmortem import PostmortemService
from slipway.app.replica import LIVE_WITHIN_S, Replica, replica_id
from slipway.app.settings import ServeSettings
from slipway.app.shadow import ShadowService
from slipway.app.started import NotStartedError, Started
from slipway.app.status_report import gather_status
from slipway.app.watch import watch_file
from slipway.backends.engine.fleet import EngineFleet, EngineSpec
from slipway.backends.engine.provision import EngineProvisioner
from slipway.backends.factory import SlotBackends
from slipway.backends.provisioners import ProvisionerChain, VllmAdapterProvisioner
from slipway.backends.vllm_reconcile import AdapterLedger, VllmReconciler
from slipway.core.adapter_probe_config import AdapterProbeConfig
from slipway.core.canary_schedule import CanarySchedule
from slipway.core.checklist import ChecklistAsk, checklist_slot
from slipway.core.checklist_config import ChecklistConfig
from slipway.core.config import (
    BakeConfig,
    CanaryConfig,
    NotifyConfig,
    RoutingConfig,
    dump_config,
    parse_config,
)
from slipway.core.deliveries import Delivery, SinkAnswer
from slipway.core.deployments import Deployment
from slipway.core.drift_config import DriftConfig
from slipway.core.errors import ConfigError, NotFoundError, StoreError
from slipway.core.gateway_config import GatewayConfig
from slipway.core.lifecycle import ChecklistRecord, DrillRecord
from slipway.core.lora import ENGINE_SCHEME, EngineDirectory
from slipway.core.notifications import Notification
from slipway.core.ports import Notifier
from slipway.core.shadow import parse_expiry, parse_sample, parse_until
from slipway.core.shadow_config import ShadowConfig
from slipway.core.types import RouteChange
from slipway.gateway.connections import ConnectionStats
from slipway.gateway.metrics import TrafficMetrics
from slipway.gateway.proxy import Proxy
from slipway.gateway.recorder import Recorder
from slipway.gateway.route_table import RouteHolder
from slipway.registry.peft_deploy import check_registry_peft
from slipway.rollout.analysis_judge import AnalysisJudge
from slipway.rollout.canary_controller import CanaryController
from slipway.rollout.controller import RouteController
from slipway.rollout.deployment_book import DeploymentBook
from slipway.rollout.drill import DrillOrder
from slipway.rollout.operator import RolloutOperator, ShadowOptions
from slipway.rollout.route_follower import RouteFollower
from slipway.rollout.slot_unload import SlotUnloader
from slipway.rollout.strategies.canary_state import CanaryState
from slipway.rollout.strategies.canary_words import actor_of
from slipway.store.database import Store, open_store
from slipway.store.route_feed import RouteFeed
from slipway.web.status import (
    Status,
)

log = logging.getLogger("slipway")

#: How far back a canary deploy looks to estimate the traffic its phases will get.
TRAFFIC_WINDOW_S = 3_600.0
MIN_TRAFFIC_WINDOW_S = 60.0
#: How long GET /readyz waits for the store to answer.
READY_STORE_TIMEOUT_S = 1.0
#: Request bodies the gateway accepts without a config file (`gateway.max_body_bytes` sets it).
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


class Runtime:
    """Everything one `slipway serve` process owns, started and stopped by the lifespan.

    What needs nothing but the settings is built here, at once; what needs the
    store (opened in `start()`, asynchronously) is one `Started` value, so
    "before start" is a single state with a single error, not a field each.
    """

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        first_read: LoadedConfig | ConfigError | None = None
        if settings.config_path is not None:
            try:
                first_read = read_config_file(settings.config_path)
            except ConfigError as exc:
                first_read = exc
        self.routes = RouteHolder(None)
        #: Per-slot request counters and histograms for GET /metrics (counted as records are queued).
        self.traffic = TrafficMetrics()
        #: What the front door refused or cut (connection cap, header and body deadlines).
        self.connections = ConnectionStats()
        self.engines = EngineDirectory()
        self.backends = SlotBackends(engines=self.engines)
        self.fleet = EngineFleet(self.engines, log_dir=settings.workdir / ".slipway" / "logs")
        self.provisioner = EngineProvisioner(
            self.fleet, self.engines, validate_for_engine, self._remember_deployed_engines
        )
        self.config_state = ConfigState(loaded=first_read if isinstance(first_read, LoadedConfig) else None)
        self._applier = ConfigApplier(
            settings.config_path,
            self.config_state,
            self.routes,
            first_read,
            apply_at_start=settings.apply_config_at_start,
        )
        self._started: Started | None = None
        #: The daily summary's loop (run on the leader); None before start.
        self._daily: DailySummary | None = None
        #: The pre-deployment checklist; built with the store in `start()`.
        self.checklist_runner: ChecklistRunner
        #: Rollback drills (run on the leader); None before start.
        self._drills: Drills | None = None
        #: The leader's reconcile of vLLM adapters (built at start; runs while this replica leads).
        self.adapter_reconcile: AdapterReconcileLoop | None = None
        self.notifiers = Notifiers(self._notify_config)
        self.started_at = time.time()
        max_body = self.config.gateway.max_body_bytes if self.config is not None else DEFAULT_MAX_BODY_BYTES
        self.proxy = Proxy(self.routes, None, max_body_bytes=max_body, resolve_engine=self.backends.engine)

    @property
    def started(self) -> Started:
        if self._started is None:
            raise NotStartedError("the runtime has not started (or its start failed)")
        return self._started

    @property
    def controller(self) -> RouteController:
        return self.started.controller

    @property
    def canary(self) -> CanaryController:
        return self.started.canary

    @property
    def shadow(self) -> ShadowService:
        return self.started.shadow

    @property
    def postmortem(self) -> PostmortemService:
        """Post-rollback analysis and regression cases over the store (records flushed first)."""
        return PostmortemService(
            self.started.store, before_read=self.started.recorder.flush, reference_from=self._reference_from
        )

    @property
    def operator(self) -> RolloutOperator:
        return self.started.operator

    @property
    def evaluations(self) -> EvalRunner:
        """Evaluation suites and their runs, on the slots as routed now."""
        started = self.started
        return EvalRunner(started.store, self.backends, lambda: self.routes.table, started.canary.clock.now)

    @property
    def store(self) -> Store | None:
        """The store once started (the gateway's record endpoints ask before start too)."""
        return self._started.store if self._started is not None else None

    @property
    def recorder(self) -> Recorder | None:
        return self._started.recorder if self._started is not None else None

    async def other_replicas(self) -> int:
        """How many other replicas serve beside this one (0 before start)."""
        return await self._started.replica.others_live() if self._started is not None else 0

    @property
    def loaded(self) -> LoadedConfig | None:
        """The config in force: the file as last read (even when refused), None without one."""
        return self.config_state.loaded

    @property
    def config(self) -> RoutingConfig | None:
        return self.loaded.routing if self.loaded is not None else None

    def shadow_config(self) -> ShadowConfig:
        return self.config.shadow if self.config is not None else ShadowConfig()

    def canary_schedule(self, steps: str | None, interval: str | None) -> CanarySchedule:
        """The operator's --steps/--interval over the config's `canary:` defaults, read now."""
        defaults = self.config.canary if self.config is not None else CanaryConfig()
        return defaults.schedule(steps, interval)

    def shadow_options(self, sample: str | None, until: str | None) -> ShadowOptions:
        """The operator's --sample/--until over the config's `shadow:` defaults, read now."""
        cfg = self.shadow_config()
        return ShadowOptions(
            sample_bp=parse_sample(sample or cfg.sample),
            until=parse_until(until or cfg.until, expiry_s=parse_expiry(cfg.expiry)),
        )

    def canary_thresholds(self) -> Thresholds:
        return self.loaded.thresholds if self.loaded is not None else DEFAULT_THRESHOLDS

    def output_checks(self) -> tuple[OutputCheck, ...]:
        return self.loaded.output_checks if self.loaded is not None else DEFAULT_CHECKS

    def _notify_config(self) -> NotifyConfig:
        return self.config.notify if self.config is not None else NotifyConfig()

    def notifier(self) -> Notifier:
        return self.notifiers.notifier()

    def _reference_from(self) -> str:
        """What drift compares a version with, which a postmortem's mix section quotes against too."""
        return self.config.drift.reference_from if self.config is not None else DriftConfig().reference_from

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
        """Open the store and build what needs it, in dependency order; then engines, routes, loops.

        A failure before everything is built closes what was opened here (the
        lifespan's `stop()` then closes what the constructor built).
        """
        gateway_cfg = self.config.gateway if self.config else None
        async with contextlib.AsyncExitStack() as undo:
            store = await open_store(self.settings.resolved_store_url())
            undo.push_async_callback(store.close)
            recorder = Recorder(
                store,
                max_queue=gateway_cfg.record_queue_size if gateway_cfg else 100_000,
                batch_size=gateway_cfg.record_batch_size if gateway_cfg else 1_000,
                flush_interval_s=gateway_cfg.record_flush_interval_s if gateway_cfg else 0.25,
                metrics=self.traffic,
                # Per worker: workers on one port must not read each other's stop as a crash.
                instance=self.settings.instance(),
            )
            undo.push_async_callback(recorder.close)
            await recorder.open()
            recorder.start()
            self.proxy.bind_recorder(recorder)
            self._configure_inputs()
            await self.proxy.start()
            ledger = AdapterLedger(store)
            vllm_provisioner = VllmAdapterProvisioner(
                self.backends.vllm, check_adapter=check_registry_peft, ledger=ledger
            )
            provisioners = ProvisionerChain([self.provisioner, vllm_provisioner])
            # Known before the replica is built: each deployment it opens records who checks it.
            rid = replica_id(self.settings.port)
            book = DeploymentBook(store, owner=rid)
            controller = RouteController(
                store,
                self.routes,
                book,
                self.backends,
                provisioner=provisioners,
                notifier=self.notifier(),
                adapter_probe=self.adapter_probe_config,
            )
            undo.push_async_callback(controller.close)
            await controller.load()
            unloader = SlotUnloader(controller, self.backends.releaser(self.fleet), store, self.notifier())
            judge = AnalysisJudge(store, self.canary_thresholds, self.output_checks)
            canary = CanaryController(
                store=store,
                routes=controller,
                deployments=book,
                judge=judge,
                notifier=self.notifier(),
                clock=await control_clock(self.settings.clock, store),
                before_check=recorder.flush,
                traffic_per_day=self.recent_traffic_per_day,
                after_stable=lambda state: self._unload_after_stable(unloader, state),
                reference_gaps=judge.reference_gaps,
                explain_rollback=PostmortemService(store, reference_from=self._reference_from).headline,
            )
            shadow = ShadowService(
                store=store,
                routes=controller,
                deployments=book,
                notifier=self.notifier(),
                clock=canary.clock,
                proxy=self.proxy,
                config=self.shadow_config,
            )
            self.checklist_runner = self._checklist_runner(store, controller, judge, canary)
            operator = RolloutOperator(
                routes=controller,
                canary=canary,
                shadow=shadow.controller,
                schedule=self.canary_schedule,
                shadow_options=self.shadow_options,
                bake=self._bake_config,
                unloader=unloader,
                checklist=ChecklistGate(
                    self.checklist_runner,
                    self.checklist_config,
                    lambda version: store.list_checklists(version=version, limit=5),
                ),
            )
            feed = RouteFeed(
                store, poll_s=self.settings.route_poll_s, notifications=self.settings.route_notifications
            )
            daily = DailySummary(
                store=store,
                notifier=self.notifier(),
                canary=canary,
                shadow=shadow.controller,
                at=lambda: self._notify_config().daily_summary,
                clock=canary.clock,
                recorder_losses=lambda: (recorder.stats.lost_in_failed_writes, recorder.stats.dropped),
                before_read=lambda: self._flush_for_summary(recorder),
            )
            self._daily = daily
            drift = DriftWatch(
                store=store,
                routes=controller,
                notifier=self.notifier(),
                config=lambda: self.config.drift if self.config is not None else DriftConfig(),
                clock=canary.clock,
                before_read=recorder.flush,
                tokenizer=self.backends.tokenizer,
            )
            loops = (canary, shadow.controller, daily, drift)
            # Not woken by route changes like the loops above: a slot just replaced drains first.
            reconcile = AdapterReconcileLoop(
                reconciler=VllmReconciler(self.backends.vllm, ledger),
                routes=controller,
                deployments=store,
                clock=canary.clock,
            )
            self.adapter_reconcile = reconcile
            interrupted = InterruptedDeploys(
                deployments=store,
                book=book,
                live_replicas=store.live_replicas,
                live_within_s=LIVE_WITHIN_S,
                clock=canary.clock,
            )

            def wake_loops() -> None:
                for loop in loops:
                    loop.kick()

            follower = RouteFollower(feed, controller, on_change=wake_loops)
            beat_url = f"http://{self.settings.host}:{self.settings.port}"
            replica = Replica(
                store=store,
                store_url=self.settings.resolved_store_url(),
                port=self.settings.port,
                loops=(*loops, reconcile, interrupted),
                recorder=recorder,
                route_version=lambda: controller.table.version if self.routes.table is not None else 0,
                url=beat_url,
                id=rid,
            )
            self._drills = build_drills(
                routes=controller,
                store=store,
                replica=replica,
                backend=self.backends,
                unloaded=operator.unloaded,
                notifier=self.notifier(),
                own_url=self._own_url(),
                beat_url=beat_url,
                closing=undo,
            )
            started = Started(
                store, recorder, controller, canary, shadow, operator, feed, follower, replica, watch=None
            )
            self._started = started
            undo.pop_all()
        await self._start_engines()
        if self.settings.config_path is not None:
            await self._applier.apply(started, actor="config-file", at_start=True)
        if self.routes.table is None:
            raise ConfigError(
                f"no routes: the store at {store.where} is empty and no config file was given",
                hint="start with --config slipway.yaml (a plain model_routing.yaml works as-is)",
            )
        if self.settings.config_path is not None and self.settings.watch_config:
            watch = asyncio.create_task(
                watch_file(self.settings.config_path, self._apply_watched), name="slipway-config-watch"
            )
            self._started = replace(started, watch=watch)
        # Beating before the notifiers keep anything under this id: others take only silent ones' sets.
        await started.replica.announce()
        await self.notifiers.start(store, store, started.replica.id)
        started.follower.start()
        shadow.start()
        # Last: once elected, this replica's loops act on everything the lines above set up.
        started.replica.start()

    def adapter_probe_config(self) -> AdapterProbeConfig:
        return self.config.adapter_probe if self.config is not None else AdapterProbeConfig()

    def checklist_config(self) -> ChecklistConfig:
        return self.config.checklist if self.config is not None else ChecklistConfig()

    def _checklist_runner(
        self, store: Store, controller: RouteController, judge: AnalysisJudge, canary: CanaryController
    ) -> ChecklistRunner:
        return ChecklistRunner(
            ChecklistDeps(
                store=store,
                backend=self.backends,
                routes=lambda: controller.table,
                checklist=self.checklist_config,
                notify=self._notify_config,
                bake=self._bake_config,
                schedule=self.canary_schedule,
                starved=plan_fit(self.recent_traffic_per_day, judge.min_samples, lambda: canary.clock.scale),
                deliveries=self.notifications,
                model_file=engine_model_files(lambda: self.fleet.specs),
                notifier=self.notifier,
                evaluations=lambda: self.evaluations,
            )
        )

    async def checklist(self, ask: ChecklistAsk, *, slot: str | None) -> ChecklistRecord:
        """`slipway checklist`: every item judged now against the routes in force, and recorded."""
        await self.controller.catch_up()
        name = checklist_slot(self.controller.table, ask.version, slot)
        return await self.checklist_runner.run(replace(ask, slot=name))

    async def checklists(self, version: str | None, limit: int) -> list[ChecklistRecord]:
        return await self.started.store.list_checklists(version=version, limit=limit)

    def _own_url(self) -> str:
        """Where this replica's own drills reach its gateway (a wildcard address means loopback)."""
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.settings.port}"

    @property
    def drills(self) -> Drills:
        if self._drills is None:
            raise NotStartedError("the gateway is not started")
        return self._drills

    async def drill(self, order: DrillOrder, actor: str) -> DrillRecord:
        """Rehearse a rollback now (on the leader); the drill's record, passed or failed."""
        return await self.drills.run(order, actor)

    async def list_drills(self, limit: int) -> list[DrillRecord]:
        return await self.drills.list(limit)

    def _bake_config(self) -> BakeConfig:
        return self.config.bake if self.config is not None else BakeConfig()

    async def _unload_after_stable(self, unloader: SlotUnloader, state: CanaryState) -> None:
        if self._bake_config().unload_when_stable:
            await unloader.after_stable(state.version, state.baseline, actor=actor_of(state))

    async def _start_engines(self) -> None:
        """Engines from the config file, or from the last applied one if the file is unreadable now."""
        store = self.started.store
        config: RoutingConfig | None = None
        base_dir = self.settings.workdir
        if self.settings.config_path is not None:
            base_dir = self.settings.config_path.resolve().parent
            # Not applied yet: this is the reading made at construction (the file is parsed once).
            config = self.config
        if config is None:
            stored = await store.get_meta(CONFIG_TEXT_META_KEY)
            if stored:
                config = parse_config(stored, "the last applied config (kept in the store)")
        if config is not None and config.engines:
            await self.fleet.start(engine_specs(config, base_dir))
        deployed = await store.get_meta(DEPLOYED_ENGINES_META_KEY)
        if deployed:
            specs = specs_from_json(deployed)
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
                    validate_for_engine(adapter, spec.base)
            await self.fleet.start(specs)
            self.provisioner.started.update(specs)

    async def _remember_deployed_engines(self, specs: dict[str, EngineSpec]) -> None:
        await self.started.store.set_meta(DEPLOYED_ENGINES_META_KEY, specs_to_json(specs))

    async def stop(self) -> None:
        """Stop the loops, then the gateway, then what it writes to; safe after a failed start."""
        s = self._started
        if self._drills is not None:
            # First: a running drill clears its pin and records itself while the store is open.
            await self._drills.close()
        if s is not None:
            await s.replica.stop()
            await s.follower.stop()
            await s.shadow.stop()
        await self.notifiers.close()
        if s is not None:
            await s.replica.leave()
        if s is not None and s.watch is not None:
            s.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await s.watch
        await self.proxy.close()
        if s is not None:
            await s.controller.close()
        await self.fleet.stop()
        if s is not None:
            await s.recorder.close()
            await s.shadow.close_writer()
        await self.backends.close()
        if s is not None:
            await s.store.close()

    async def reload(self, actor: str, force: bool = False) -> dict[str, Any]:
        try:
            return await self._applier.reload(self.started, actor, force)
        finally:
            self._configure_inputs()

    async def _apply_watched(self) -> None:
        try:
            await self._applier.apply_watched(self.started)
        finally:
            self._configure_inputs()

    def _configure_inputs(self) -> None:
        """Whether and how much the gateway keeps of what requests ask, from the config in force: a
        reload applies it to the next request (turning prompt storage off needs no restart)."""
        cfg = self.config.gateway if self.config is not None else GatewayConfig()
        self.proxy.record_inputs = cfg.record_inputs
        self.proxy.input_max_chars = cfg.input_max_chars

    async def notifications(self, limit: int) -> list[Delivery]:
        """The latest delivery outcomes, newest first; what is still queued for the store is written first."""
        await self.notifiers.deliveries.flush()
        return await self.started.store.list_deliveries(limit)

    async def notify_test(self, actor: str) -> list[SinkAnswer]:
        return await self.notifiers.send_test(actor)

    async def _flush_for_summary(self, recorder: Recorder) -> None:
        await recorder.flush()
        await self.notifiers.deliveries.flush()

    async def daily_summary(self, send: bool) -> Notification:
        """The daily summary of the last 24 hours, now; with `send`, also queued to every sink."""
        if self._daily is None:
            raise NotStartedError("the gateway is not started")
        return await (self._daily.send_now() if send else self._daily.compose())

    async def history(self, limit: int) -> list[RouteChange]:
        return await self.started.store.route_history(limit)

    async def deployments(self, limit: int) -> list[Deployment]:
        return await self.started.store.list_deployments(limit)

    async def request(self, request_id: str) -> dict[str, Any]:
        """One request's record, latest feedback and what it asked (when kept); flushes first, so a
        request just answered shows."""
        s = self.started
        await s.recorder.flush()
        rec = await s.store.get_request(request_id)
        if rec is None:
            raise NotFoundError(
                f"no request with id {request_id!r}",
                hint="ids come from the X-Slipway-Request-Id response header; old records may be pruned",
            )
        feedback = await s.store.latest_feedback(request_id)
        asked = (await s.store.request_inputs([request_id])).get(request_id)
        return {
            "request": asdict(rec),
            "feedback": asdict(feedback) if feedback else None,
            "input": asdict(asked) if asked else None,
        }

    def export_config(self) -> str:
        table = self.controller.table
        return dump_config(table, table.name, engines=self.config.engines if self.config else None)

    async def recent_traffic_per_day(self) -> float | None:
        """Requests/day over the last hour, from its first request on; None under a minute of traffic.

        Measured from the first request rather than from the window's start,
        so a gateway that just started (or sat idle) is not taken for a quiet one.
        """
        s = self.started
        await s.recorder.flush()
        now = time.time()
        served, first = await s.store.traffic_since(now - TRAFFIC_WINDOW_S)
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
        s = self._started
        if s is None:
            reasons.append("store not open")
        else:
            try:
                await s.store.ping(READY_STORE_TIMEOUT_S)
            except StoreError:
                reasons.append(f"store did not answer within {READY_STORE_TIMEOUT_S:g} s")
        if s is None or not s.recorder.alive:
            reasons.append("record writer not running")
        return reasons

    async def status(self) -> Status:
        """What `slipway status` and `/metrics` show; a failing store blanks only its own part."""
        return await gather_status(self)
