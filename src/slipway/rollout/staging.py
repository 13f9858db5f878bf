"""Blue-green staging: a version into the standby slot, checked, gated, and then (or later) switched.

The candidate is checked as a detached slot (provisioned, readiness, smoke
test) so that until it passes, the route table — and `slipway rollback`'s
target — still holds what the standby held. Canary and shadow deploys stage
the same way and then move weights or start the mirror themselves. Route
changes go through the `RouteController`'s lock and commit, like every other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.core.errors import ChecklistFailed, ConflictError, SlipwayError
from slipway.core.types import RouteChangeKind, RouteTable, Slot
from slipway.evals.smoke import SmokeCase
from slipway.rollout import machine
from slipway.rollout.candidate_check import check_candidate
from slipway.rollout.controller import RouteController
from slipway.rollout.strategies.bluegreen import DeployRequest, choose_standby, staged_slot

#: Run once a candidate is staged and before any traffic moves to it (the pre-deployment checklist):
#: raises to refuse the deploy, or returns words for the switch's reason (its waivers), or None.
DeployGate = Callable[[Deployment], Awaitable[str | None]]


class BlueGreenStager:
    def __init__(self, routes: RouteController) -> None:
        self._routes = routes

    async def deploy(
        self,
        request: DeployRequest,
        smoke_cases: list[SmokeCase] | None,
        *,
        actor: str,
        switch: bool = True,
        progress: Callable[[str], None] | None = None,
        strategy: Strategy = Strategy.BLUEGREEN,
        gate: DeployGate | None = None,
    ) -> Deployment:
        """Stage the version in a standby slot, smoke-test it there, pass its `gate`, then switch.

        A canary stages the same way (`switch=False`, `strategy=CANARY`) and
        then moves weights itself.
        """
        say = progress or (lambda _msg: None)
        async with self._routes.lock:
            table = self._routes.table
            name = choose_standby(table, request.slot)
            slot = staged_slot(table, name, request)
            dep = await self._routes.deployments.open(
                version=request.version,
                strategy=strategy,
                slot=name,
                actor=actor,
                previous_slot=table.active,
                detail={"endpoint": slot.endpoint, "model": slot.model, "kind": str(slot.kind)},
            )
        # The candidate is checked as a detached slot: until it passes, the route table (and
        # so `slipway rollback`'s target) still holds what the standby held before.
        say(f"checking {request.version} for standby slot {name} ({slot.endpoint})")
        if self._routes.provisioner is not None:
            try:
                provisioned = await self._routes.provisioner.provision(slot)
            except SlipwayError:
                await self._routes.deployments.settle(dep, DeploymentStatus.FAILED)
                raise
            if provisioned.endpoint != slot.endpoint:
                say(f"started {provisioned.endpoint} for {request.version} (not loaded by {slot.endpoint})")
                dep.detail["endpoint"] = provisioned.endpoint
            slot = provisioned
        try:
            return await self._check_and_stage(
                dep, table, name, slot, request, smoke_cases, actor, switch, say, gate
            )
        except BaseException:
            if self._routes.provisioner is not None:
                await self._routes.provisioner.discard(slot, self._routes.table)
            raise

    async def _check_and_stage(
        self,
        dep: Deployment,
        table: RouteTable,
        name: str,
        slot: Slot,
        request: DeployRequest,
        smoke_cases: list[SmokeCase] | None,
        actor: str,
        switch: bool,
        say: Callable[[str], None],
        gate: DeployGate | None = None,
    ) -> Deployment:
        await check_candidate(
            self._routes.backend,
            self._routes.deployments,
            dep,
            table,
            slot,
            smoke_cases,
            say,
            probe=self._routes.adapter_probe(),
        )
        async with self._routes.lock:
            table = self._routes.table
            if table.active == name:
                await self._routes.deployments.settle(dep, DeploymentStatus.FAILED)
                raise ConflictError(
                    f"slot {name!r} became the active slot while {request.version} was being checked",
                    hint="someone switched traffic meanwhile; see `slipway history`, then deploy again",
                )
            replaced = table.slots.get(name)
            staged, change = machine.put_slot(
                table,
                slot,
                actor=actor,
                reason=f"deploy {request.version}: staged in {name}",
                now=self._routes.now(),
            )
            # Staging alone is announced only for a blue-green deploy that stops there (--no-switch);
            # otherwise the switch below, or the canary's or shadow's start, announces it.
            alone = not switch and dep.strategy is Strategy.BLUEGREEN
            await self._routes.commit(staged, change, table.version, announce=alone)
            say(f"staged {request.version} in standby slot {name}")
            if gate is None:
                # Without a gate, staging and the switch are one step under the lock, as always.
                self._routes.retire_later(replaced)
                return await self._go_live(dep, name, request, smoke_cases, actor, switch, say, None)
        try:
            note = await gate(dep)
        except SlipwayError as exc:
            await self._unstage(name, slot, replaced, request.version, actor)
            refused = isinstance(exc, ChecklistFailed)
            await self._routes.deployments.settle(
                dep, DeploymentStatus.CHECKLIST_FAILED if refused else DeploymentStatus.FAILED
            )
            raise
        self._routes.retire_later(replaced)
        async with self._routes.lock:
            table = self._routes.table
            if table.active == name or table.slots.get(name) != slot:
                await self._routes.deployments.settle(dep, DeploymentStatus.FAILED)
                raise ConflictError(
                    f"slot {name!r} changed while {request.version}'s checklist ran",
                    hint="someone moved traffic or staged over it meanwhile; see `slipway history`, "
                    "then deploy again",
                )
            return await self._go_live(dep, name, request, smoke_cases, actor, switch, say, note)

    async def _go_live(
        self,
        dep: Deployment,
        name: str,
        request: DeployRequest,
        smoke_cases: list[SmokeCase] | None,
        actor: str,
        switch: bool,
        say: Callable[[str], None],
        note: str | None,
    ) -> Deployment:
        """Leave the staged candidate there (no switch), or switch all traffic to it; under the lock."""
        if not switch:
            dep.detail["switched"] = False
            await self._routes.deployments.move(dep, DeploymentStatus.STAGED)
            return dep
        table = self._routes.table
        reason = f"deploy {request.version}" + (" after a passing smoke test" if smoke_cases else "")
        if note:
            reason = f"{reason}; {note}"
        new, change = machine.switch(
            table, name, actor=actor, reason=reason, now=self._routes.now(), kind=RouteChangeKind.DEPLOY
        )
        await self._routes.commit(new, change, table.version)
        dep.previous_slot = table.active
        await self._routes.deployments.move(dep, DeploymentStatus.LIVE)
        if dep.detail.get("warnings"):
            say(f"switched: {table.active} -> {name}; see the warnings about rolling back to {table.active}")
        else:
            say(f"switched: {table.active} -> {name}; {table.active} stays loaded for rollback")
        return dep

    async def _unstage(
        self, name: str, staged: Slot, replaced: Slot | None, version: str, actor: str
    ) -> None:
        """Put back what the standby held before a refused candidate was staged over it.

        A refusal leaves the routes as they were: `slipway rollback` must not
        find the refused candidate where the old version used to be. A slot
        the deploy created is left staged (nothing routes to it), and so is
        one someone changed meanwhile.
        """
        if replaced is None:
            return
        async with self._routes.lock:
            table = self._routes.table
            if table.slots.get(name) != staged or table.active == name:
                return
            restored, change = machine.put_slot(
                table,
                replaced,
                actor=actor,
                reason=f"deploy {version} refused: {name} holds {replaced.version_label} again",
                now=self._routes.now(),
            )
            await self._routes.commit(restored, change, table.version, announce=False)
