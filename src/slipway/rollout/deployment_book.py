"""The one way a deployment's row changes: checked against its lifecycle, stamped, saved.

Blue-green, canary and shadow each move deployments (staged, live, rolled
back...). When each did it by hand, each stamped `updated_at` from a
different clock (one of them the sped-up drill clock) and one skipped the
lifecycle check. Every controller now moves a deployment through this book.
`updated_at` is wall-clock time, like the request records it is read beside.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.core.errors import SlipwayError
from slipway.core.ports import DeploymentStore
from slipway.rollout.machine import check_deployment_move

log = logging.getLogger("slipway.deployments")

#: How many recent deployments are searched for the one a route change concerns.
RECENT = 20
#: A deployment's detail key: the replica that opened it and runs its checks.
CHECKED_BY = "checked_by"


class DeploymentBook:
    def __init__(
        self, store: DeploymentStore, *, wall: Callable[[], float] = time.time, owner: str | None = None
    ) -> None:
        """`owner`: this replica's id, written on each deployment it opens (`checked_by`), so that
        once it stops beating another can tell a deploy it was checking from one still going on."""
        self._store = store
        self._wall = wall
        self._owner = owner

    async def open(
        self,
        *,
        version: str,
        strategy: Strategy,
        slot: str,
        actor: str,
        previous_slot: str | None,
        detail: dict[str, object],
    ) -> Deployment:
        """A new deployment, pending, saved before anything is checked (a crash still leaves its trace)."""
        now = self._wall()
        dep = Deployment(
            id=uuid.uuid4().hex[:12],
            version=version,
            strategy=strategy,
            slot=slot,
            status=DeploymentStatus.PENDING,
            created_at=now,
            updated_at=now,
            actor=actor,
            previous_slot=previous_slot,
            detail=detail if self._owner is None else {**detail, CHECKED_BY: self._owner},
        )
        await self._store.save_deployment(dep)
        return dep

    async def move(self, dep: Deployment, status: DeploymentStatus) -> None:
        """Move `dep` to `status` and save it with what its detail says now; TransitionError if illegal."""
        check_deployment_move(dep.status, status)
        dep.status = status
        await self.save(dep)

    async def settle(self, dep: Deployment, status: DeploymentStatus) -> None:
        """`move`, on a path that is already failing: a store error is logged, not raised over the first."""
        try:
            await self.move(dep, status)
        except SlipwayError as exc:
            log.error("could not record deployment %s as %s: %s", dep.id, status, exc)

    async def save(self, dep: Deployment) -> None:
        dep.updated_at = self._wall()
        await self._store.save_deployment(dep)

    async def get(self, deployment_id: str) -> Deployment | None:
        return await self._store.get_deployment(deployment_id)

    async def live_to_rolled_back(self, slot: str, reason: str) -> None:
        """The version live in `slot` was rolled back: say so on its row, with why."""
        for dep in await self._store.list_deployments(limit=RECENT):
            if dep.slot == slot and dep.status is DeploymentStatus.LIVE:
                dep.detail = {**dep.detail, "rollback_reason": reason}
                await self.move(dep, DeploymentStatus.ROLLED_BACK)

    async def staged_to_live(self, slot: str, previous: str) -> Deployment | None:
        """A version staged with --no-switch goes live when an operator switches to its slot: which one."""
        for dep in await self._store.list_deployments(limit=RECENT):
            if dep.slot == slot and dep.status is DeploymentStatus.STAGED:
                dep.previous_slot = previous
                await self.settle(dep, DeploymentStatus.LIVE)
                return dep
        return None
