"""The leader's sweep for deploys whose checks died with the replica running them.

A deploy opens its deployment (pending), then checks the candidate (health,
smoke test, checklist) in the replica that took the admin call, and only
then stages it. A replica killed in between (`kill -9`, the OOM killer, a
lost node) leaves the deployment "pending" or "smoke_testing" for good:
`slipway deployments` shows a check that will never end, and the vLLM
reconcile keeps the candidate's adapter loaded in case it still does. Nothing
was switched, so nothing needs undoing: the leader marks such a deployment
failed, with what happened and what to do, once the replica named in its
`checked_by` has stopped beating. A deployment opened before replicas
recorded themselves there is given `LEGACY_AFTER_S` instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from slipway.core.deployments import Deployment, DeploymentStatus
from slipway.core.errors import TransitionError
from slipway.core.ports import Clock, DeploymentStore
from slipway.core.replicas import ReplicaBeat
from slipway.rollout.control_loop import ControlLoop
from slipway.rollout.deployment_book import CHECKED_BY, DeploymentBook

log = logging.getLogger("slipway.deployments")

#: Real seconds between two sweeps.
SWEEP_EVERY_S = 15.0
#: How many of the latest deployments are looked at.
RECENT_DEPLOYMENTS = 50
#: A deployment with no `checked_by` still checking after this long is taken as interrupted.
LEGACY_AFTER_S = 6 * 3600.0


def interrupted(dep: Deployment, live: set[str], *, now: float, live_within_s: float) -> str | None:
    """Why `dep`'s checks can no longer end (in words), or None while they may still."""
    if not dep.status.is_checking():
        return None
    owner = dep.detail.get(CHECKED_BY)
    if not isinstance(owner, str):
        if now - dep.updated_at < LEGACY_AFTER_S:
            return None
        return f"its checks have said nothing for over {LEGACY_AFTER_S / 3600:g} h"
    if owner in live or now - dep.updated_at < live_within_s:
        return None
    return f"replica {owner}, which ran its checks, stopped (a crash or a restart) before they ended"


class InterruptedDeploys(ControlLoop):
    NAME = "slipway-interrupted-deploys"

    def __init__(
        self,
        *,
        deployments: DeploymentStore,
        book: DeploymentBook,
        live_replicas: Callable[[float], Awaitable[list[ReplicaBeat]]],
        live_within_s: float,
        clock: Clock,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock, log)
        self._deployments = deployments
        self._book = book
        self._live_replicas = live_replicas
        self._live_within_s = live_within_s
        self._wall = wall

    async def _wake_once(self) -> float | None:
        await self.sweep()
        return self.clock.now() + SWEEP_EVERY_S * self.clock.scale

    async def sweep(self) -> list[Deployment]:
        """Mark failed the deployments whose checks died with their replica; those marked."""
        now = self._wall()
        live = {beat.id for beat in await self._live_replicas(now - self._live_within_s)}
        failed: list[Deployment] = []
        for dep in await self._deployments.list_deployments(RECENT_DEPLOYMENTS):
            why = interrupted(dep, live, now=now, live_within_s=self._live_within_s)
            if why is None:
                continue
            fresh = await self._book.get(dep.id)  # its replica may have been only slow to beat
            if fresh is None or fresh.status != dep.status or fresh.updated_at != dep.updated_at:
                continue
            dep.detail["error"] = (
                f"interrupted: {why}; nothing was switched. Deploy {dep.version} again "
                "(`slipway deploy`) when the replicas are up."
            )
            try:
                await self._book.move(dep, DeploymentStatus.FAILED)
            except TransitionError:  # moved on meanwhile (its replica was only slow): leave it
                continue
            log.warning("deployment %s of %s marked failed: %s", dep.id, dep.version, why)
            failed.append(dep)
        return failed
