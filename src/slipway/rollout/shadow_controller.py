"""Runs shadow deployments: stage the candidate, mirror traffic to it, end the run, hand it over.

Deploying stages the candidate exactly like blue-green (health check, smoke
test, no switch), saves the run, then sets the route table's mirror — the
gateway reads it from there, so every replica mirrors the same share under
the same run id. A loop wakes every `POLL_S` (clock time) to end runs that
have their pairs or their time; ending stops the mirror in the same route
change path as everything else. Promotion stops the mirror and hands the
candidate over; the rollout operator then switches to it (blue-green) or
starts a canary ramp of the same staged slot; nothing is re-deployed.

Promotion is gated here, on the report's own verdict over the pairs in the
store (so any replica decides the same): "go" promotes; "no-go" and "not
yet" are refused with the report's reasons unless forced with a reason,
and a forced promotion is saved with the run and said in its notification.

All state is in the store (`ShadowRun` + the route table), so a restart
picks up a running shadow where it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slipway.analysis.shadow import build_report
from slipway.analysis.shadow.report_model import Verdict
from slipway.core.checklist import deployment_note
from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.core.errors import NotFoundError, TransitionError
from slipway.core.notifications import Notification, Severity
from slipway.core.ports import Clock, Notifier, ShadowStore
from slipway.core.shadow import ForcedPromotion, PromoteVia, ShadowRun, ShadowStatus, ShadowUntil
from slipway.core.shadow_config import ShadowConfig
from slipway.core.types import WEIGHT_SCALE, RouteTable
from slipway.evals.smoke import SmokeCase
from slipway.rollout import machine
from slipway.rollout.control_loop import ControlLoop
from slipway.rollout.controller import RouteController
from slipway.rollout.deployment_book import DeploymentBook
from slipway.rollout.staging import BlueGreenStager, DeployGate
from slipway.rollout.strategies import shadow
from slipway.rollout.strategies.bluegreen import DeployRequest

log = logging.getLogger("slipway.shadow")

#: How often (clock seconds) a running shadow is checked for its pair count and its time.
POLL_S = 10.0


class ShadowController(ControlLoop):
    NAME = "slipway-shadow"
    RETRY_S = POLL_S

    def __init__(
        self,
        *,
        store: ShadowStore,
        routes: RouteController,
        deployments: DeploymentBook,
        notifier: Notifier,
        clock: Clock,
        config: Callable[[], ShadowConfig],
        before_count: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._routes = routes
        self._deployments = deployments
        self._notifier = notifier
        #: The `shadow:` section as it is now: its checks and decision rule make the verdict.
        self._config = config
        super().__init__(clock, log)
        #: Writes the pairs still queued, so counts and reports see every pair made so far.
        self._before_count = before_count
        self._lock = asyncio.Lock()

    async def _wake_once(self) -> float | None:
        await self.wake()
        return self.clock.now() + POLL_S

    async def wake(self) -> ShadowRun | None:
        """End the running shadow if it has its pairs or its time (or lost its mirror)."""
        async with self._lock:
            run = await self._store.latest_shadow()
            if run is None or run.status.is_final():
                return run
            total = await self.pair_count(run)
            due = shadow.due_end(run, total, self._routes.table, self.clock.now())
            if due is None:
                return run
            return await self._end(run, due[0], due[1], actor="slipway")

    # -- operators ---------------------------------------------------------------------

    async def deploy(
        self,
        request: DeployRequest,
        smoke_cases: list[SmokeCase] | None,
        *,
        sample_bp: int,
        until: ShadowUntil,
        actor: str,
        progress: Callable[[str], None] | None = None,
        gate: DeployGate | None = None,
    ) -> tuple[Deployment, ShadowRun]:
        """Stage the candidate like blue-green, then mirror `sample_bp` of production traffic to it."""
        await self.ensure_idle()
        dep = await BlueGreenStager(self._routes).deploy(
            request,
            smoke_cases,
            actor=actor,
            switch=False,
            progress=progress,
            strategy=Strategy.SHADOW,
            gate=gate,
        )
        async with self._lock:
            table = self._routes.table
            run = shadow.start(
                deployment_id=dep.id,
                version=dep.version,
                production=table.active,
                candidate=dep.slot,
                sample_bp=sample_bp,
                until=until,
                actor=actor,
                now=self.clock.now(),
            )
            await self._store.save_shadow(run, self.clock.now())
            share = f"{sample_bp * 100 / WEIGHT_SCALE:g}%"
            note = deployment_note(dep.detail)
            checked = f"; {note}" if note else ""
            await self._routes.transition(
                lambda t: machine.set_mirror(
                    t,
                    run.candidate,
                    sample_bp,
                    run=run.deployment_id,
                    actor=actor,
                    reason=f"shadow {run.version}: mirror {share} of {t.active} to {run.candidate}{checked}",
                    now=self.clock.now(),
                )
            )
            dep.detail["shadow"] = run.to_dict()
            await self._deployments.move(dep, DeploymentStatus.SHADOW)
        if progress is not None:
            progress(
                f"mirroring {share} of {run.production}'s traffic to {run.candidate} (users see production)"
            )
        self._tell(run, "shadow.started", f"shadow {run.version} started: {share} of traffic mirrored", actor)
        self.kick()
        return dep, run

    async def ensure_idle(self) -> None:
        """Refuse a deploy while a shadow mirrors (it would restage or serve the candidate's slot)."""
        run = await self._store.latest_shadow()
        if run is not None and run.status is ShadowStatus.RUNNING:
            raise TransitionError(
                f"a shadow of {run.version} is mirroring to slot {run.candidate!r}",
                hint="stop or promote it first: slipway shadow stop | slipway shadow promote --via canary",
            )

    async def stop_run(self, *, actor: str, reason: str) -> ShadowRun:
        async with self._lock:
            run = await self._require()
            if run.status.is_final():
                raise TransitionError(
                    f"the shadow of {run.version} has ended ({run.status})", hint="nothing to stop"
                )
            return await self._end(run, ShadowStatus.STOPPED, reason or f"stopped by {actor}", actor=actor)

    async def hand_over(
        self,
        via: PromoteVia,
        *,
        actor: str,
        force: bool = False,
        why: str | None = None,
        gate: Callable[[ShadowRun], Awaitable[None]] | None = None,
    ) -> ShadowRun:
        """End the run (if it still mirrors) so its staged candidate can be promoted; refuse if it cannot.

        Refused unless the report's verdict is go, or `force` comes with a
        reason (`why`); the run handed back then carries the override in
        `forced`. Then `gate` (the pre-deployment checklist) may refuse too,
        before the run ends, so a refusal leaves the shadow as it was. The
        caller (the rollout operator) moves the candidate to production and
        calls `mark_promoted`.
        """
        why = shadow.check_force(force, why)
        async with self._lock:
            run = await self._require()
            if run.status is ShadowStatus.PROMOTED:
                raise TransitionError(
                    f"the shadow of {run.version} was promoted already", hint="see slipway status"
                )
            table = self._routes.table
            if run.candidate not in table.slots or table.slots[run.candidate].version_label != run.version:
                raise TransitionError(
                    f"slot {run.candidate!r} no longer holds {run.version}",
                    hint="deploy it again: slipway deploy VERSION --strategy bluegreen|canary",
                )
            verdict = await self.verdict(run)
            forced = shadow.promotion_gate(
                run, verdict.decision, verdict.reasons, force=force, why=why, actor=actor
            )
            if gate is not None:
                await gate(run)
            if not run.status.is_final():
                stop = shadow.handing_over(via, forced)
                run = await self._end(run, ShadowStatus.STOPPED, stop, actor=actor)
            return replace(run, forced=forced)

    async def mark_promoted(self, run: ShadowRun, via: PromoteVia, *, actor: str) -> ShadowRun:
        """Save the run as promoted (with the override, if `hand_over` was forced) and say so."""
        promoted = shadow.promoted(run, via, self.clock.now(), actor=actor, forced=run.forced)
        await self._store.save_shadow(promoted, self.clock.now())
        title = f"shadow {run.version} promoted through {via.value}"
        forced = promoted.forced
        if forced is None:
            self._tell(promoted, "shadow.promoted", title, actor)
            return promoted
        self._tell(
            promoted,
            "shadow.promoted",
            f"{title}, forced over the report's {forced.verdict.upper()} by {forced.actor}",
            actor,
            Severity.WARNING,
            text=_forced_text(forced),
            facts={"forced over": forced.verdict.upper(), "why": forced.why},
        )
        return promoted

    async def verdict(self, run: ShadowRun) -> Verdict:
        """The verdict `slipway shadow report` gives for this run now: the same pairs, checks and rule.

        Built without the LLM judge: its preferences are shown in the report
        but never enter the verdict, so asking it would only make a promotion
        wait on a model.
        """
        if self._before_count is not None:
            await self._before_count()
        pairs = await self._store.read_pairs(run.deployment_id)
        report = await asyncio.to_thread(build_report, pairs, self._config(), run=run, now=self.clock.now())
        return report.verdict

    async def keep_shadow(self, table: RouteTable) -> RouteTable:
        """A routing file applied while a shadow mirrors keeps the candidate's staged slot.

        The file knows the candidate's slot as it was before the deploy; applied
        as written it would point the mirror at the old version.
        """
        run = await self.current()
        if run is None or run.status.is_final():
            return table
        current = self._routes.table
        if current.mirror_run != run.deployment_id:
            return table
        if run.candidate not in table.slots or run.candidate == table.active or table.weights:
            return table
        return replace(table, slots={**table.slots, run.candidate: current.slots[run.candidate]})

    # -- reading -------------------------------------------------------------------------

    async def current(self) -> ShadowRun | None:
        return await self._store.latest_shadow()

    async def pair_count(self, run: ShadowRun) -> int:
        if self._before_count is not None:
            await self._before_count()
        return sum((await self._store.pair_counts(run.deployment_id)).values())

    # -- plumbing ------------------------------------------------------------------------

    async def _require(self) -> ShadowRun:
        run = await self._store.latest_shadow()
        if run is None:
            raise NotFoundError(
                "there is no shadow run", hint="start one with slipway deploy VERSION --strategy shadow"
            )
        return run

    async def _end(self, run: ShadowRun, status: ShadowStatus, reason: str, *, actor: str) -> ShadowRun:
        """Stop the mirror (if it is still this run's), save the ending, put the deployment back to staged."""

        def stop_mirror(t: RouteTable) -> Any:
            if t.mirror_run != run.deployment_id or t.mirror is None:
                return None
            return machine.set_mirror(
                t, None, 0, run=None, actor=actor, reason=f"shadow {run.version} {status.value}: {reason}",
                now=self.clock.now(),
            )  # fmt: skip

        await self._routes.transition(stop_mirror)
        ended = shadow.end(run, status, reason, self.clock.now(), actor=actor)
        await self._store.save_shadow(ended, self.clock.now())
        dep = await self._deployments.get(run.deployment_id)
        if dep is not None and dep.status is DeploymentStatus.SHADOW:
            dep.detail["shadow"] = ended.to_dict()
            await self._deployments.move(dep, DeploymentStatus.STAGED)
        severity = (
            Severity.INFO if status in (ShadowStatus.COMPLETE, ShadowStatus.STOPPED) else Severity.WARNING
        )
        self._tell(
            ended, f"shadow.{status.value}", f"shadow {run.version} {status.value}: {reason}", actor, severity
        )
        return ended

    def _tell(
        self,
        run: ShadowRun,
        event: str,
        title: str,
        actor: str,
        severity: Severity = Severity.INFO,
        *,
        text: str | None = None,
        facts: dict[str, str] | None = None,
    ) -> None:
        self._notifier.notify(
            Notification(
                event=event,
                title=title,
                severity=severity,
                text=text or run.reason or "see slipway shadow status and slipway shadow report",
                facts={
                    "deployment": run.deployment_id,
                    "version": run.version,
                    "production": run.production,
                    "candidate": run.candidate,
                    "sample": f"{run.sample_bp * 100 / WEIGHT_SCALE:g}%",
                    "by": actor,
                    **(facts or {}),
                },
                at=self.clock.now(),
            )
        )


def _forced_text(forced: ForcedPromotion) -> str:
    """The override in a few lines: who forced it and why, then what the report said against it."""
    said = "\n".join(f"- {r}" for r in forced.reasons[: shadow.REASONS_SHOWN])
    more = len(forced.reasons) - shadow.REASONS_SHOWN
    tail = f"\n- and {more} more: see slipway shadow report" if more > 0 else ""
    return f"{forced.words()}\nThe report said {forced.verdict.upper()} because:\n{said}{tail}"
