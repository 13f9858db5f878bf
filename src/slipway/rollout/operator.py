"""The rollout operator: every action a person takes on a rollout, decided in one place.

The admin API (and so the CLI and the dashboard, which call it) hands each
request here and only translates the answer. What the request means depends
on what is running, and that is decided here rather than in the HTTP layer:
a deploy goes to the strategy asked for, once no other strategy holds the
standby slot; "roll back" during a canary ramp ends the canary at weight 0,
and in its monitoring window switches back to the baseline; a shadow's
promotion hands its staged candidate to blue-green or to a new canary.

The strategies' own controllers carry each step out and run their control
loops; none of them reaches into another. Only the operator coordinates
across strategies.

Any replica may take any action. Each one first takes in the store's latest
routes (`RouteController.catch_up`): a change another replica committed a
moment ago must not make this one refuse, or misjudge, what is asked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from slipway.core.canary_schedule import CanarySchedule
from slipway.core.config import BakeConfig
from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.core.errors import ConfigError, TransitionError
from slipway.core.names import LABEL_MAX
from slipway.core.shadow import ForcedPromotion, PromoteVia, ShadowRun, ShadowUntil
from slipway.core.types import RouteTable
from slipway.evals.smoke import SmokeCase
from slipway.rollout import machine
from slipway.rollout.adapter_rollback import rollback_adapter
from slipway.rollout.canary_controller import CanaryController
from slipway.rollout.controller import Moved, RouteController
from slipway.rollout.shadow_controller import ShadowController
from slipway.rollout.slot_unload import SlotUnloader, UnloadedSlot
from slipway.rollout.staging import BlueGreenStager, DeployGate
from slipway.rollout.strategies import canary
from slipway.rollout.strategies.bluegreen import DeployRequest
from slipway.rollout.strategies.canary_state import CanaryState, CanaryStatus


@dataclass(frozen=True, slots=True)
class DeployOrder:
    """A deploy as asked for: the version, how to roll it out, and the strategy's own options."""

    request: DeployRequest
    strategy: Strategy = Strategy.BLUEGREEN
    #: The smoke prompts; None with `skip_smoke` to deploy without them on purpose.
    smoke_cases: list[SmokeCase] | None = None
    skip_smoke: bool = False
    #: Blue-green: move traffic after a passing smoke test (else leave it staged).
    switch: bool = True
    #: Canary: weight steps and check interval; None takes the config's.
    steps: str | None = None
    interval: str | None = None
    #: Shadow: share mirrored and when it ends; None takes the config's.
    sample: str | None = None
    until: str | None = None
    #: The on-call owner named for this deployment (the pre-deployment checklist's owner item).
    owner: str | None = None
    #: Checklist items the operator accepts failing, each with the reason (recorded with the deploy).
    waivers: dict[str, str] = field(default_factory=dict)
    #: What the operator does again once a refusal's items are fixed (its hint): deploy, or promote.
    retry: str = "deploy"


class DeployChecklist(Protocol):
    """The pre-deployment checklist a deploy passes once its candidate is staged, before traffic moves."""

    async def before_traffic(self, dep: Deployment, order: DeployOrder, *, actor: str) -> str | None:
        """Raise ChecklistFailed to refuse; else the waivers in words (for the switch's reason), or None."""
        ...

    async def before_switch(self, version: str, slot: str) -> None:
        """Raise ChecklistFailed when the latest checklist of `version` in `slot` failed a required item."""
        ...


@dataclass(frozen=True, slots=True)
class Deployed:
    deployment: Deployment
    route_version: int
    #: The canary it started (a canary deploy), or the shadow run (a shadow deploy).
    canary: CanaryState | None = None
    shadow: ShadowRun | None = None


@dataclass(frozen=True, slots=True)
class RolledBack:
    """A rollback as it happened: a route change, or the end of the canary that was ramping."""

    route_version: int
    #: The route change outside a canary (its `change` is None when the target already served all).
    moved: Moved | None = None
    #: During a canary: the slot that was taking its share, the slot all traffic is on now, and the
    #: canary as it ended.
    was: str | None = None
    now_active: str | None = None
    canary: CanaryState | None = None


@dataclass(frozen=True, slots=True)
class ShadowOptions:
    """The shadow run a deploy starts, parsed against the config's defaults."""

    sample_bp: int
    until: ShadowUntil


class RolloutOperator:
    def __init__(
        self,
        *,
        routes: RouteController,
        canary: CanaryController,
        shadow: ShadowController,
        schedule: Callable[[str | None, str | None], CanarySchedule],
        shadow_options: Callable[[str | None, str | None], ShadowOptions],
        bake: Callable[[], BakeConfig] = BakeConfig,
        unloader: SlotUnloader | None = None,
        checklist: DeployChecklist | None = None,
    ) -> None:
        self._routes = routes
        #: Run on every deploy between staging and the first traffic (None: no checklist, e.g. unit tests).
        self._checklist = checklist
        #: Unloads standby slots and loads them back (None: nothing here can, e.g. in unit tests).
        self._unloader = unloader
        self._canary = canary
        self._shadow = shadow
        #: The canary schedule from steps and an interval (None: the config's, read when asked).
        self._schedule = schedule
        #: The shadow run's sample and end from the options given (None: the config's).
        self._shadow_options = shadow_options
        #: Whether and against what a switch is baked (the config's `bake:`, read when asked).
        self._bake = bake

    @property
    def route_version(self) -> int:
        return self._routes.table.version

    # -- deploy --------------------------------------------------------------------

    async def deploy(
        self, order: DeployOrder, *, actor: str, progress: Callable[[str], None] | None = None
    ) -> Deployed:
        """Check the order against its strategy, then hand it to that strategy once no other runs."""
        await self._routes.catch_up()
        strategy = order.strategy
        if strategy is not Strategy.CANARY and (order.steps or order.interval):
            raise ConfigError(
                "--steps and --interval belong to a canary", hint="add --strategy canary", field="steps"
            )
        if strategy is not Strategy.SHADOW and (order.sample or order.until):
            raise ConfigError(
                "--sample and --until belong to a shadow run", hint="add --strategy shadow", field="sample"
            )
        # Options are checked before the smoke test's absence, so each mistake is named first.
        schedule = self._schedule(order.steps, order.interval) if strategy is Strategy.CANARY else None
        shadow = self._shadow_options(order.sample, order.until) if strategy is Strategy.SHADOW else None
        if order.smoke_cases is None and not order.skip_smoke:
            raise ConfigError(
                f"a {strategy.value} deploy runs a smoke test first, and none was given",
                hint="pass --smoke FILE (10-20 prompts), or --no-smoke to skip it knowingly",
                field="smoke",
            )
        cases = order.smoke_cases
        await self._shadow.ensure_idle()
        await self._canary.ensure_idle()
        gate = self._gate(order, actor)
        if shadow is not None:
            dep, run = await self._shadow.deploy(
                order.request, cases, sample_bp=shadow.sample_bp, until=shadow.until, actor=actor,
                progress=progress, gate=gate,
            )  # fmt: skip
            return Deployed(dep, self.route_version, shadow=run)
        if schedule is not None:
            dep, state = await self._canary.deploy(
                order.request, cases, schedule, actor=actor, progress=progress, gate=gate
            )
            return Deployed(dep, self.route_version, canary=state)
        previous = self._routes.table.active
        dep = await BlueGreenStager(self._routes).deploy(
            order.request, cases, actor=actor, switch=order.switch, progress=progress, gate=gate
        )
        if dep.status is not DeploymentStatus.LIVE:
            return Deployed(dep, self.route_version)
        baked = await self._bake_switch(
            dep.id, dep.version, dep.slot, previous, actor=actor, progress=progress
        )
        if baked is not None:
            dep = await self._canary.deployment(dep.id) or dep
        if progress is not None and baked is not None:
            progress(f"baking {dep.version}: checked against {previous}'s traffic before the switch")
        return Deployed(dep, self.route_version, canary=baked)

    def _gate(self, order: DeployOrder, actor: str) -> DeployGate | None:
        """The checklist as the gate a staged candidate passes before traffic moves to it."""
        checklist = self._checklist
        if checklist is None:
            return None

        async def gate(dep: Deployment) -> str | None:
            return await checklist.before_traffic(dep, order, actor=actor)

        return gate

    async def _bake_switch(
        self,
        deployment_id: str,
        version: str,
        slot: str,
        previous: str,
        *,
        actor: str,
        progress: Callable[[str], None] | None = None,
    ) -> CanaryState | None:
        """Start the bake of a version a switch just made live, unless the config turned bakes off."""
        bake = self._bake()
        if not bake.after_switch or previous == slot:
            return None
        return await self._canary.start_bake(
            deployment_id, version=version, candidate=slot, baseline=previous,
            plan=bake.schedule(self._schedule(None, None)), reference_s=bake.reference_s(), actor=actor,
            progress=progress,
        )  # fmt: skip

    # -- moving traffic ------------------------------------------------------------

    async def roll_back(
        self, *, to: str | None = None, actor: str, reason: str, force: bool = False
    ) -> RolledBack:
        """Back to safety: the previous slot, or `to`; during a canary, its baseline.

        During a ramp "back" is the baseline at weight 0, and the canary ends.
        In its monitoring window (promoted, not yet stable) it is a switch back
        to the baseline without a new analysis; the baseline serves nothing
        then, so it is checked for readiness first like any rollback target.
        """
        await self._routes.catch_up()
        current = await self._canary.current()
        in_canary = current is not None and (
            current.status.in_ramp() or current.status is CanaryStatus.PROMOTED
        )
        target = to or (current.baseline if current is not None and in_canary else None)
        reason = await self._loaded_first(target or self._routes.table.previous_active, actor, reason)
        if current is not None and in_canary and to in (None, current.baseline):
            if current.status is CanaryStatus.PROMOTED:
                reason = await self._ready_or_forced(current.baseline, reason, force)
            state = await self._canary.command(canary.Rollback(actor, reason))
            table = self._routes.table
            return RolledBack(table.version, was=current.candidate, now_active=table.active, canary=state)
        moved = await self._routes.roll_back(to=to, actor=actor, reason=reason, force=force)
        return RolledBack(moved.table.version, moved=moved)

    async def _ready_or_forced(self, slot: str, reason: str, force: bool) -> str:
        """`reason`, once `slot` passed its readiness check; with `force`, what failed is added to it."""
        table = self._routes.table
        if slot not in table.slots or slot in table.effective_weights():
            return reason
        problem = await self._routes.readiness(table.slots[slot])
        if problem is None:
            return reason
        if not force:
            raise TransitionError(
                f"traffic was not moved: {problem}",
                hint="fix that backend, or roll back anyway if it is still the lesser harm: "
                "slipway rollback --force",
            )
        return f"{reason}; forced past the readiness check: {problem}"

    async def roll_back_adapter(
        self, *, to: str | None, actor: str, reason: str, force: bool = False
    ) -> Moved:
        """Back to an earlier adapter version: a route change on the engine that already has it loaded."""
        await self._routes.catch_up()
        return await rollback_adapter(self._routes, to=to, actor=actor, reason=reason, force=force)

    async def switch(self, to: str, *, actor: str, reason: str, force: bool = False) -> Moved:
        """All traffic to `to`; a version staged earlier that goes live for the first time is baked.

        A switch back to a slot that served before (the old version, by hand)
        is not: it is what a bake would have done, and there is nothing new to watch.
        """
        await self._routes.catch_up()
        table = self._routes.table
        if self._checklist is not None and to in table.slots and to != table.active:
            # A version staged with --no-switch goes past its failed checklist no more than a deploy would.
            await self._checklist.before_switch(table.slots[to].version_label, to)
        reason = await self._loaded_first(to, actor, reason)
        moved = await self._routes.switch_to(to, actor=actor, reason=reason, force=force)
        dep, change = moved.went_live, moved.change
        if dep is not None and change is not None and change.from_active is not None:
            await self._bake_switch(dep.id, dep.version, dep.slot, change.from_active, actor=actor)
        return moved

    async def _loaded_first(self, target: str | None, actor: str, reason: str) -> str:
        """`reason`, once `target` is loaded again if it had been unloaded (said in the reason)."""
        if self._unloader is None:
            return reason
        loaded = await self._unloader.load_if_unloaded(target, actor=actor)
        return reason if loaded is None else f"{reason} ({target} was unloaded: {loaded} first)"

    # -- standby slots ---------------------------------------------------------------

    async def unload(self, slot: str, *, actor: str, reason: str) -> UnloadedSlot:
        """Free a standby slot's memory; refused while it serves, is mirrored to, or a rollout needs it."""
        await self._routes.catch_up()
        return await self._needs_unloader().unload(
            slot, actor=actor, reason=reason, needed_by=await self._needed_by(slot)
        )

    async def load(self, slot: str, *, actor: str) -> str:
        await self._routes.catch_up()
        return await self._needs_unloader().load(slot, actor=actor)

    async def unloaded(self) -> dict[str, UnloadedSlot]:
        return {} if self._unloader is None else await self._unloader.unloaded()

    def _needs_unloader(self) -> SlotUnloader:
        if self._unloader is None:
            raise TransitionError("this slipway cannot unload slots", hint="run it with `slipway serve`")
        return self._unloader

    async def _needed_by(self, slot: str) -> str | None:
        """The running rollout that rolls back to, or judges, `slot`; None if none does."""
        state = await self._canary.current()
        if state is not None and not state.status.is_final() and slot in (state.baseline, state.candidate):
            return f"the {'bake' if state.kind == 'bake' else 'canary'} of {state.version}"
        run = await self._shadow.current()
        if run is not None and not run.status.is_final() and slot == run.candidate:
            return f"the shadow run of {run.version}"
        return None

    async def apply_routing_file(
        self, table: RouteTable, *, actor: str, reason: str, force: bool, force_hint: str, unready_note: str
    ) -> RouteTable:
        """Apply a routing file's table without undoing a rollout in progress.

        The file knows the canary's or the shadow's candidate slot as it was
        before the deploy: a running canary keeps its candidate and split, a
        running shadow keeps its candidate's staged slot. A file that moves
        production elsewhere or sets weights of its own still wins.
        """
        kept = await self._file_table(table)
        return await self._routes.apply_table(
            kept, actor=actor, reason=reason, force=force, force_hint=force_hint, unready_note=unready_note
        )

    async def routing_file_differences(self, table: RouteTable) -> list[str]:
        """What applying a routing file's table would change in the routes served now, in words."""
        return machine.table_differences(self._routes.table, await self._file_table(table))

    async def _file_table(self, table: RouteTable) -> RouteTable:
        return await self._shadow.keep_shadow(await self._canary.keep_canary(table))

    # -- a running canary ----------------------------------------------------------

    async def canary_command(self, event: canary.Event) -> CanaryState:
        """Pause, resume, promote or abort the canary (its control loop goes on from the new state)."""
        await self._routes.catch_up()
        return await self._canary.command(event)

    # -- a running shadow ----------------------------------------------------------

    async def stop_shadow(self, *, actor: str, reason: str) -> ShadowRun:
        await self._routes.catch_up()
        return await self._shadow.stop_run(actor=actor, reason=reason)

    async def promote_shadow(
        self,
        via: PromoteVia,
        *,
        actor: str,
        steps: str | None = None,
        interval: str | None = None,
        force: bool = False,
        reason: str | None = None,
        owner: str | None = None,
        waivers: dict[str, str] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Hand the shadow's staged candidate to blue-green (a switch) or to a new canary ramp.

        Nothing is deployed again: the slot the shadow mirrored to already
        holds the candidate, checked and smoke-tested. The shadow controller
        refuses unless its report says go or `force` comes with a `reason`;
        a forced promotion says so in the switch's route history, or in the
        canary's start (its actor), as well as in the run and its notification.
        A switch moves every user at once, as a blue-green deploy does, so it
        passes the same pre-deployment checklist first (`owner`, `waivers`);
        a refusal leaves the shadow as it was. A canary's own checks judge it.
        """
        await self._routes.catch_up()
        if via is not PromoteVia.CANARY and (steps or interval):
            raise ConfigError(
                "--steps and --interval belong to a promotion through a canary",
                hint="add --via canary",
                field="steps",
            )
        if via is PromoteVia.CANARY and (owner or waivers):
            raise ConfigError(
                "--owner and --waive belong to a promotion through blue-green (the checklist before "
                "the switch); a canary's own checks judge its candidate",
                hint="drop them, or add --via bluegreen",
                field="waivers",
            )
        schedule = self._schedule(steps, interval) if via is PromoteVia.CANARY else None
        checked = None if schedule is not None else self._promotion_gate(owner, waivers or {}, actor)
        notes: list[str] = []

        async def gate(run: ShadowRun) -> None:
            if checked is not None and (note := await checked(run)):
                notes.append(note)

        run = await self._shadow.hand_over(via, actor=actor, force=force, why=reason, gate=gate)
        result: dict[str, Any] = {"via": via.value}
        forced = run.forced
        if schedule is None:
            why = f"promote shadow {run.version} (blue-green)" + (f", {forced.words()}" if forced else "")
            if notes:
                why = f"{why}; {notes[0]}"
            previous = self._routes.table.active
            table = await self._routes.switch(run.candidate, actor=actor, reason=why)
            result["active"] = table.active
            dep = await self._routes.deployments.get(run.deployment_id)
            if dep is not None and isinstance(dep.detail.get("checklist"), dict):
                result["checklist"] = dep.detail["checklist"]
            baked = await self._bake_switch(
                run.deployment_id, run.version, run.candidate, previous, actor=actor
            )
            if baked is not None:
                result["bake"] = {"deployment_id": baked.deployment_id, "baseline": baked.baseline}
        else:
            request = DeployRequest(version=run.version, slot=run.candidate)
            dep, state = await self._canary.deploy(
                request, None, schedule, actor=_forcing(actor, forced), progress=progress
            )
            result["canary"] = {"deployment_id": dep.id, "weight_pct": state.weight_bp / 100}
        promoted = await self._shadow.mark_promoted(run, via, actor=actor)
        result["shadow"] = promoted.to_dict()
        result["route_version"] = self.route_version
        return result

    def _promotion_gate(
        self, owner: str | None, waivers: dict[str, str], actor: str
    ) -> Callable[[ShadowRun], Awaitable[str | None]] | None:
        """The checklist a shadow's candidate passes before a promotion switches every user to it.

        Judged as a blue-green deploy of the shadow's deployment (its record
        and the deployment's detail keep the outcome, refused or not).
        """
        checklist = self._checklist
        if checklist is None:
            return None
        deployments = self._routes.deployments

        async def gate(run: ShadowRun) -> str | None:
            dep = await deployments.get(run.deployment_id)
            if dep is None:
                raise TransitionError(
                    f"the deployment of the shadow of {run.version} ({run.deployment_id}) is not stored",
                    hint="deploy it again: slipway deploy VERSION --strategy bluegreen",
                )
            order = DeployOrder(
                DeployRequest(version=run.version, slot=run.candidate),
                skip_smoke=True,
                owner=owner,
                waivers=dict(waivers),
                retry="promote",
            )
            try:
                return await checklist.before_traffic(dep, order, actor=actor)
            finally:
                await deployments.save(dep)

        return gate


def _forcing(actor: str, forced: ForcedPromotion | None) -> str:
    """The canary's actor, marked when it starts over the shadow report's verdict.

    The canary words its own start ("started by ..."), and its route history
    and notifications name the actor, so the mark shows wherever the
    canary's start does; the full reason is in the shadow run. Kept within
    the 200 characters an actor is stored in.
    """
    if forced is None:
        return actor
    mark = f" (forced over the shadow report's {forced.verdict.upper()})"
    return actor[: LABEL_MAX - len(mark)] + mark
