"""Carries out what one canary or bake step asks for, in a fixed order that survives a crash.

The order: save the state (a route change marked pending) with its
revision, append its timeline entries, make the route change through the
route controller (a switch back to a slot that stopped answering waits, see
`switch_gate`), save that it is done, then move the deployment row, unload
what was asked, and tell people. A crash between two of these is finished
at the next wake: the pending route change is made again, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from slipway.core.canary import CanaryRecord
from slipway.core.errors import ConflictError, NotFoundError, NotLeaderError, SlipwayError, TransitionError
from slipway.core.notifications import Notification
from slipway.core.ports import CanaryStore, Clock, Notifier
from slipway.rollout.controller import RouteController
from slipway.rollout.deployment_book import DeploymentBook
from slipway.rollout.rollback_note import Explain, with_postmortem
from slipway.rollout.strategies.canary import ApplyRoute, Effect, Finish, Notify, Record, Unload
from slipway.rollout.strategies.canary_routes import route_change
from slipway.rollout.strategies.canary_state import CanaryState, CanaryStatus
from slipway.rollout.strategies.summary import rollout_summary
from slipway.rollout.switch_gate import SwitchGate

log = logging.getLogger("slipway.canary")


class CanaryEffects:
    def __init__(
        self,
        store: CanaryStore,
        routes: RouteController,
        deployments: DeploymentBook,
        notifier: Notifier,
        clock: Clock,
        wall: Callable[[], float],
        after_stable: Callable[[CanaryState], Awaitable[None]] | None = None,
        *,
        explain_rollback: Explain | None = None,
    ) -> None:
        self._store = store
        self._routes = routes
        self._deployments = deployments
        self._notifier = notifier
        self.clock = clock
        self._wall = wall
        #: Called once a canary or bake ends stable (e.g. to unload the previous version).
        self._after_stable = after_stable
        #: The postmortem's headline for a deployment (and how to open it), added to a rollback's message.
        self._explain_rollback = explain_rollback
        #: Holds a switch back to a slot that stopped answering while it served nothing.
        self._gate = SwitchGate(routes, notifier, wall)

    async def load(self) -> tuple[CanaryState, int] | None:
        record = await self._store.latest_canary()
        if record is None:
            return None
        return CanaryState.from_dict(dict(record.state)), record.revision

    async def save(self, state: CanaryState, revision: int) -> int:
        now = self.clock.now()
        record = CanaryRecord(
            deployment_id=state.deployment_id,
            status=str(state.status),
            revision=revision,
            created_at=state.started_at,
            updated_at=now,
            state=state.to_dict(),
        )
        saved = await self._store.save_canary(record, expected_revision=revision)
        return saved.revision

    async def commit(self, state: CanaryState, effects: list[Effect], revision: int) -> CanaryState:
        """Save the state (a route change pending) and its timeline, make the route change, then the rest.

        Readers see a new state with its timeline, and `route_pending` until the routes match it.
        """
        revision = await self.save(state, revision)
        await self._record(effects)
        for effect in effects:
            if isinstance(effect, ApplyRoute):
                applied = await self.apply_route(state, effect)
                if applied is not None:
                    state, revision = await self._save_applied(applied, revision)
        await self._finish_and_notify(state, effects)
        return state

    async def _save_applied(self, state: CanaryState, revision: int) -> tuple[CanaryState, int]:
        """Save that the route step is done; if another replica saved first, take its state.

        The route change wakes the leader on every replica that follows it, and
        the leader finishes a pending route step it finds (`_reconcile`). So a
        step made through a follower may be saved as done by the leader first:
        that is the same step finished once, not a conflict to report.
        """
        try:
            return state, await self.save(state, revision)
        except NotLeaderError:
            raise
        except ConflictError:
            loaded = await self.load()
            if loaded is None or loaded[0].deployment_id != state.deployment_id or loaded[0].route_pending:
                raise
            log.info("canary %s: another replica saved this route step first", state.deployment_id)
            return loaded

    async def commit_without_routes(self, state: CanaryState, effects: list[Effect], revision: int) -> int:
        revision = await self.save(state, revision)
        await self._record(effects)
        await self._finish_and_notify(state, effects)
        return revision

    async def _record(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Record):
                await self._store.add_canary_event(effect.event)

    async def _finish_and_notify(self, state: CanaryState, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Finish):
                await self._finish(state.deployment_id, effect)
            elif isinstance(effect, Unload):
                await self._unload(effect.slot)
        told = False
        for effect in effects:
            if isinstance(effect, Notify):
                note = self._as_it_is(state, effect.notification)
                if state.status is CanaryStatus.ROLLED_BACK and note.event.endswith(".rolled_back"):
                    note = await with_postmortem(note, state.deployment_id, self._explain_rollback)
                self._notifier.notify(note)
                told = True
        if told and state.status.is_final():
            # It just ended (its last notification went out with this step): the summary follows it.
            self._notifier.notify(rollout_summary(state, self.clock.now()))
            if state.status is CanaryStatus.STABLE and self._after_stable is not None:
                await self._after_stable(state)

    def _as_it_is(self, state: CanaryState, note: Notification) -> Notification:
        """The notification, corrected when its route change is still waiting (a held switch back)."""
        if not state.route_pending or state.status is not CanaryStatus.ROLLED_BACK:
            return note
        serving = self._routes.table.active
        waits = (
            f"the switch back waits: {state.baseline} is not answering, so traffic stays on {serving} "
            "until it does (see the switch_blocked notification)"
        )
        rest = note.text.replace(f"All traffic is on {state.baseline}. ", "")
        return replace(note, title=f"{note.title} ({waits})", text=f"{waits[0].upper()}{waits[1:]}.\n{rest}")

    async def apply_route(self, state: CanaryState, effect: ApplyRoute) -> CanaryState | None:
        """Commit the route `state` wants; the state with the committed version, or None if it failed."""
        if await self._gate.holds(state):
            return None
        try:
            table = await self._routes.transition(lambda t: route_change(t, state, effect, self._wall()))
        except (TransitionError, ConflictError, NotFoundError) as exc:
            log.error("canary %s: could not set the route: %s", state.deployment_id, exc)
            return None
        return replace(state, route_pending=False, route_version=table.version)

    async def _finish(self, deployment_id: str, effect: Finish) -> None:
        dep = await self._deployments.get(deployment_id)
        if dep is None or dep.status is effect.status or dep.status.is_terminal():
            return
        dep.detail = {**dep.detail, "canary_result": effect.reason}
        try:
            await self._deployments.move(dep, effect.status)
        except TransitionError as exc:
            log.error("canary %s: %s", deployment_id, exc)

    async def _unload(self, slot: str) -> None:
        try:
            await self._routes.unload(slot)
        except SlipwayError as exc:
            log.error("could not unload slot %s: %s", slot, exc)
