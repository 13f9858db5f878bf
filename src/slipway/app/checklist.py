"""The pre-deployment checklist, run: gather each item's evidence, judge it, keep the record.

`slipway checklist VERSION` and every `slipway deploy` (before traffic moves)
come here. The evidence is looked at, not promised: the suites are run now
against production, the latency is measured on a paired replay, the model
file is validated, the rollback target gets a real request, and drills,
test events and announcements are read from their records. The rules that
judge the evidence are `core.checklist_items`; this module only fetches it.
Every item is gathered on its own, so one that cannot be looked at fails
with its reason rather than taking the rest down.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slipway.app.checklist_files import check_model_file
from slipway.app.checklist_latency import paired_replay, replay_request
from slipway.backends.engine.fleet import EngineSpec
from slipway.core import checklist_items as judge
from slipway.core.canary_schedule import CanarySchedule
from slipway.core.checklist import (
    ITEMS,
    ChecklistAsk,
    ItemResult,
    ItemStatus,
    passed,
    settle,
    summary_words,
)
from slipway.core.checklist_config import ChecklistConfig
from slipway.core.config import BakeConfig, NotifyConfig
from slipway.core.deliveries import Delivery
from slipway.core.errors import SlipwayError, ValidationError
from slipway.core.lifecycle import ChecklistRecord
from slipway.core.notifications import Notification
from slipway.core.ports import Evaluations, Notifier, SlotBackend
from slipway.core.types import RouteTable, Slot
from slipway.rollout.strategies.canary_timing import starved_first_phase
from slipway.store.database import Store

log = logging.getLogger("slipway.checklist")

#: Longest wait for the rollback target's probe.
PROBE_TIMEOUT_S = 5.0
#: Recent production requests looked at for replay bodies.
RECENT_WINDOW_S = 3_600.0
RECENT_SCAN = 2_000
#: Delivery records read for test events and announcements.
DELIVERIES_READ = 1_000
PROBE_REQUEST: dict[str, Any] = {
    "messages": [{"role": "user", "content": "ping"}],
    "temperature": 0,
    "max_tokens": 4,
    "stream": False,
}


@dataclass(frozen=True, slots=True)
class ChecklistDeps:
    """What the runner reads, each as the narrowest thing that gives it."""

    store: Store
    backend: SlotBackend
    routes: Callable[[], RouteTable]
    checklist: Callable[[], ChecklistConfig]
    notify: Callable[[], NotifyConfig]
    bake: Callable[[], BakeConfig]
    schedule: Callable[[str | None, str | None], CanarySchedule]
    #: The canary-plan warning at the recent traffic (None: fits, or no traffic to judge by).
    starved: Callable[[CanarySchedule], Awaitable[str | None]]
    deliveries: Callable[[int], Awaitable[list[Delivery]]]
    model_file: Callable[[Slot], Awaitable[judge.ModelFileCheck]]
    notifier: Callable[[], Notifier]
    evaluations: Callable[[], Evaluations | None]
    wall: Callable[[], float] = time.time


class ChecklistRunner:
    def __init__(self, deps: ChecklistDeps) -> None:
        self._d = deps

    async def run(self, ask: ChecklistAsk) -> ChecklistRecord:
        """Every item judged, waivers applied, the record stored; never raises for a failed item."""
        d = self._d
        table = d.routes()
        if ask.slot not in table.slots:
            raise ValidationError(
                f"there is no slot {ask.slot!r} (slots: {', '.join(sorted(table.slots))})",
                hint="stage the version first (slipway deploy VERSION --no-switch), then check that slot",
            )
        cfg = d.checklist()
        candidate = table.slots[ask.slot]
        production = table.active_slot
        if ask.announce:
            await self._announce(ask, candidate)
        # The suites first, on their own: the latency replay must not time the slots while a suite
        # loads them.
        suites = await self._suites(ask, production)
        others = await asyncio.gather(
            self._guarded("latency", lambda: self._latency(ask, candidate, production, cfg)),
            self._guarded("model_file", lambda: self._model_file(candidate)),
            self._guarded("previous_version", lambda: self._previous(table, candidate)),
            self._guarded("drill", lambda: self._drill(cfg)),
            self._guarded("monitoring", lambda: self._monitoring(cfg)),
            self._guarded("canary_plan", lambda: self._plan(ask)),
            self._guarded("owner", lambda: self._owner(ask, cfg)),
            self._guarded("announced", lambda: self._announced(ask)),
        )
        flat: list[ItemResult] = [*suites, *others]
        order = {item: i for i, item in enumerate(ITEMS)}
        flat.sort(key=lambda r: order.get(r.item, 99))
        settled = settle(flat, cfg.required_items(), ask.waivers)
        record = ChecklistRecord(
            id=uuid.uuid4().hex[:12],
            at=d.wall(),
            version=ask.version,
            slot=ask.slot,
            actor=ask.actor,
            passed=passed(settled),
            items=[r.to_dict() for r in settled],
            deployment_id=ask.deployment_id,
        )
        await d.store.add_checklist(record)
        log.info("checklist of %s in %s: %s", ask.version, ask.slot, summary_words(settled))
        return record

    async def _guarded(self, item: str, gather: Callable[[], Awaitable[ItemResult]]) -> ItemResult:
        """The item, or a failure naming why its evidence could not be gathered."""
        try:
            return await gather()
        except SlipwayError as exc:
            return ItemResult(item, ItemStatus.FAIL, f"could not be checked: {exc.message}", fix=exc.hint)

    async def _suites(self, ask: ChecklistAsk, production: Slot) -> list[ItemResult]:
        runner = self._d.evaluations()
        if runner is None:
            why = "evaluation suites are not available in this slipway"
            return [judge.judge_evaluation(None, why), judge.judge_regression(None)]
        against = production.name if production.name != ask.slot else None
        try:
            runs = await runner.run_all(
                slot=ask.slot, against=against, actor=ask.actor, deployment_id=ask.deployment_id
            )
        except SlipwayError as exc:
            return [judge.judge_evaluation(None, exc.message), judge.judge_regression(None)]
        return [judge.judge_evaluation(runs), judge.judge_regression(runs)]

    async def _latency(
        self, ask: ChecklistAsk, candidate: Slot, production: Slot, cfg: ChecklistConfig
    ) -> ItemResult:
        if candidate.name == production.name:
            return ItemResult("latency", ItemStatus.NA, f"{ask.version} already takes all traffic")
        try:
            requests, source = await self._replay_requests(ask, production, cfg.latency_requests)
        except SlipwayError as exc:
            requests, source = [], f"recent requests unreadable ({exc.message})"
        if not requests:
            return judge.judge_latency(None, p50_max=cfg.latency_p50_max, p95_max=cfg.latency_p95_max)
        replay = await paired_replay(
            self._d.backend, candidate, production, requests, source=source, budget_s=cfg.latency_budget_s
        )
        return judge.judge_latency(
            replay, p50_max=cfg.latency_p50_max, p95_max=cfg.latency_p95_max, slack_ms=cfg.latency_slack_ms
        )

    async def _replay_requests(
        self, ask: ChecklistAsk, production: Slot, want: int
    ) -> tuple[list[dict[str, Any]], str]:
        """Production's latest request bodies (as kept by the gateway), else the fallback requests."""
        store = self._d.store
        recent = await store.list_requests(
            since=self._d.wall() - RECENT_WINDOW_S, slot=production.name, limit=RECENT_SCAN
        )
        ids = [r.request_id for r in recent[-want * 3 :]]
        kept = await store.request_inputs(ids) if ids else {}
        bodies = [kept[i].request for i in reversed(ids) if i in kept and kept[i].request is not None]
        requests = [r for r in (replay_request(b) for b in bodies if b is not None) if r is not None][:want]
        if len(requests) >= judge.MIN_PAIRS:
            return requests, f"{len(requests)} recent requests to {production.name}"
        fallback = [r for r in (replay_request(b) for b in ask.fallback_requests) if r is not None]
        if fallback:
            picked = (fallback * (want // len(fallback) + 1))[:want]
            return picked, f"{len(fallback)} smoke cases, {len(picked)} sends"
        return [], "no requests"

    async def _model_file(self, candidate: Slot) -> ItemResult:
        return judge.judge_model_file(await self._d.model_file(candidate))

    async def _previous(self, table: RouteTable, candidate: Slot) -> ItemResult:
        """Probe the slot a rollback would go to: production now, or the last one before it."""
        name = table.active if table.active != candidate.name else table.previous_active
        if name is None or name not in table.slots or name == candidate.name:
            return judge.judge_previous_version(judge.Probe(None, None, False, ""))
        slot = table.slots[name]
        start = time.perf_counter()
        try:
            output = await asyncio.wait_for(
                self._d.backend.complete(slot, {**PROBE_REQUEST, "model": slot.backend_model}),
                PROBE_TIMEOUT_S,
            )
        except TimeoutError:
            return judge.judge_previous_version(
                judge.Probe(name, slot.version_label, False, f"no answer within {PROBE_TIMEOUT_S:g} s")
            )
        except SlipwayError as exc:
            return judge.judge_previous_version(
                judge.Probe(name, slot.version_label, False, exc.message[:300])
            )
        ms = (time.perf_counter() - start) * 1000
        detail = f"{len(output)} characters in {ms:.0f} ms"
        return judge.judge_previous_version(judge.Probe(name, slot.version_label, True, detail))

    async def _drill(self, cfg: ChecklistConfig) -> ItemResult:
        drills = await self._d.store.list_drills(limit=20)
        return judge.judge_drill(drills, now=self._d.wall(), max_age_s=cfg.drill_max_age_s())

    async def _monitoring(self, cfg: ChecklistConfig) -> ItemResult:
        notify = self._d.notify()
        sinks = [*notify.webhooks, *([f"email {notify.email.host}"] if notify.email is not None else [])]
        deliveries = await self._d.deliveries(DELIVERIES_READ) if sinks else []
        bake = self._d.bake()
        windows = bake.schedule(self._d.schedule(None, None)).windows_text if bake.after_switch else None
        return judge.judge_monitoring(
            sinks, deliveries, windows=windows, now=self._d.wall(), max_age_s=cfg.alert_test_max_age_s()
        )

    async def _plan(self, ask: ChecklistAsk) -> ItemResult:
        if ask.strategy != "canary":
            return judge.judge_canary_plan(ask.strategy, None, None)
        plan = self._d.schedule(ask.steps, ask.interval)
        steps = ",".join(str(s) for s in plan.steps)
        return judge.judge_canary_plan(ask.strategy, steps, await self._d.starved(plan))

    async def _owner(self, ask: ChecklistAsk, cfg: ChecklistConfig) -> ItemResult:
        automated = None
        if ask.strategy == "canary":
            automated = "the canary's checks roll it back by themselves"
        elif ask.strategy == "shadow":
            automated = "a shadow run serves no user"
        elif self._d.bake().after_switch:
            automated = "the bake after the switch rolls back by itself"
        return judge.judge_owner(ask.owner or cfg.owner, automated)

    async def _announced(self, ask: ChecklistAsk) -> ItemResult:
        deliveries = await self._d.deliveries(DELIVERIES_READ)
        return judge.judge_announced(ask.version, deliveries, now=self._d.wall())

    async def _announce(self, ask: ChecklistAsk, candidate: Slot) -> None:
        """Tell every sink of the deployment, then wait (briefly) for the delivery records."""
        table = self._d.routes()
        window = f" in {ask.window}" if ask.window else ""
        note = Notification(
            event=judge.ANNOUNCE_EVENT,
            title=f"{judge.announce_title(ask.version)} by {ask.actor}",
            text=f"{ask.version} goes into slot {candidate.name} by {ask.strategy}{window}; production is "
            f"{table.active_slot.version_label} in {table.active}. Rollback: slipway rollback.",
            facts={"version": ask.version, "slot": candidate.name, "by": ask.actor, "strategy": ask.strategy},
            at=self._d.wall(),
        )
        self._d.notifier().notify(note)
        notify = self._d.notify()
        if not notify.webhooks and notify.email is None:
            return  # no sink: nothing will be delivered to wait for (the monitoring item says so)
        for _ in range(50):
            deliveries = await self._d.deliveries(50)
            if any(x.event == judge.ANNOUNCE_EVENT and x.title == note.title for x in deliveries):
                return
            await asyncio.sleep(0.1)


def plan_fit(
    traffic_per_day: Callable[[], Awaitable[float | None]],
    min_samples: Callable[[], int],
    clock_scale: Callable[[], float],
) -> Callable[[CanarySchedule], Awaitable[str | None]]:
    """The canary-plan item's question: will the first phase see enough requests at the recent traffic?

    Each part is read when the item is judged: the traffic of the last hour,
    the judge's minimum per arm, and the canary clock's speed (a drill or the
    demo may run it faster, which shortens every phase in requests too).
    """

    async def starved(plan: CanarySchedule) -> str | None:
        rate = await traffic_per_day()
        if not rate:
            return None
        return starved_first_phase(plan, rate, min_samples(), clock_scale=clock_scale())

    return starved


def engine_model_files(
    engines: Callable[[], Mapping[str, EngineSpec]],
) -> Callable[[Slot], Awaitable[judge.ModelFileCheck]]:
    """The model-file item's evidence: the files of the engines running now (read when judged)."""

    async def check(slot: Slot) -> judge.ModelFileCheck:
        return await check_model_file(slot, engines())

    return check
