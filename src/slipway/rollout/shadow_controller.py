"""Runs shadow deployments: stage the candidate, mirror traffic to it, end the run, hand it over.

Deploying stages the candidate exactly like blue-green (health check, smoke
test, no switch), saves the run, then sets the route table's mirror — the
gateway reads it from there, so every replica mirrors the same share under
the same run id. A loop wakes every `POLL_S` (clock time) to end runs that
have their pairs or their time; ending stops the mirror in the same route
change path as everything else. Promotion stops the mirror and hands the
candidate over; the rollout operator then switches to it (blue-green) or
starts a canary ramp of the same staged slot; nothing is re-deployed.

All state is in the store (`ShadowRun` + the route table), so a restart
picks up a running shadow where it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.core.errors import NotFoundError, TransitionError
from slipway.core.notifications import Notification, Severity
from slipway.core.ports import Clock, Notifier, ShadowStore
from slipway.core.shadow import PromoteVia, ShadowRun, ShadowStatus, ShadowUntil
from slipway.core.types import WEIGHT_SCALE, RouteTable
from slipway.evals.smoke import SmokeCase
from slipway.rollout import machine
from slipway.rollout.control_loop import ControlLoop
from slipway.rollout.controller import RouteController
from slipway.rollout.deployment_book import DeploymentBook
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
        before_count: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._routes = routes
        self._deployments = deployments
        self._notifier = notifier
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
    ) -> tuple[Deployment, ShadowRun]:
        """Stage the candidate like blue-green, then mirror `sample_bp` of production traffic to it."""
        await self.ensure_idle()
        dep = await self._routes.deploy_bluegreen(
            request, smoke_cases, actor=actor, switch=False, progress=progress, strategy=Strategy.SHADOW
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
            await self._routes.transition(
                lambda t: machine.set_mirror(
                    t,
                    run.candidate,
                    sample_bp,
                    run=run.deployment_id,
                    actor=actor,
                    reason=f"shadow {run.version}: mirror {share} of {t.active} to {run.candidate}",
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

    async def hand_over(self, via: PromoteVia, *, actor: str) -> ShadowRun:
        """End the run (if it still mirrors) so its staged candidate can be promoted; refuse if it cannot.

        The caller (the rollout operator) then moves the candidate to
        production and calls `mark_promoted`.
        """
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
            if not run.status.is_final():
                run = await self._end(
                    run, ShadowStatus.STOPPED, f"promoting through {via.value}", actor=actor
                )
            return run

    async def mark_promoted(self, run: ShadowRun, via: PromoteVia, *, actor: str) -> ShadowRun:
        promoted = shadow.promoted(run, via, self.clock.now(), actor=actor)
        await self._store.save_shadow(promoted, self.clock.now())
        self._tell(promoted, "shadow.promoted", f"shadow {run.version} promoted through {via.value}", actor)
        return promoted

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
        self, run: ShadowRun, event: str, title: str, actor: str, severity: Severity = Severity.INFO
    ) -> None:
        self._notifier.notify(
            Notification(
                event=event,
                title=title,
                severity=severity,
                text=run.reason or "see slipway shadow status and slipway shadow report",
                facts={
                    "deployment": run.deployment_id,
                    "version": run.version,
                    "production": run.production,
                    "candidate": run.candidate,
                    "sample": f"{run.sample_bp * 100 / WEIGHT_SCALE:g}%",
                    "by": actor,
                },
                at=self.clock.now(),
            )
        )
