"""A canary's or bake's switch back waits for the slot it goes to: a rollback must not cause an outage.

A switch back after promotion (a bake's or a monitoring window's rollback)
sends everything to a slot that has been idle for hours or days. If it died
meanwhile, switching would turn a regression into an outage: the step waits
instead (the change stays pending, tried again at each wake) and says so
once, critically. Moves within a split need no check: both slots serve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slipway.core.notifications import Notification, Severity
from slipway.core.ports import Notifier
from slipway.rollout.controller import RouteController
from slipway.rollout.strategies.canary_state import CanaryState, desired_route

log = logging.getLogger("slipway.canary")


class SwitchGate:
    def __init__(self, routes: RouteController, notifier: Notifier, wall: Callable[[], float]) -> None:
        self._routes = routes
        self._notifier = notifier
        self._wall = wall
        #: (deployment id, problem) of switches held, each told once.
        self._told: set[tuple[str, str]] = set()

    async def holds(self, state: CanaryState) -> bool:
        """True (and told) when the slot `state` gives all traffic to serves none now and is not ready."""
        table = self._routes.table
        active, _weight = desired_route(state)
        slot = table.slots.get(active)
        if slot is None or active == table.active or table.effective_weights().get(active, 0) > 0:
            return False
        problem = await self._routes.readiness(slot)
        if problem is None:
            return False
        self._tell(state, active, problem)
        return True

    def _tell(self, state: CanaryState, active: str, problem: str) -> None:
        key = (state.deployment_id, problem)
        if key in self._told:
            return
        self._told.add(key)
        what = "bake" if state.kind == "bake" else "canary"
        serving = self._routes.table.active
        log.error("%s of %s: cannot switch traffic to %s: %s", what, state.version, active, problem)
        self._notifier.notify(
            Notification(
                event=f"{what}.switch_blocked",
                title=f"the {what} of {state.version} must switch to {active}, but {problem}; traffic stays "
                f"on {serving}",
                severity=Severity.CRITICAL,
                text=f"Why it switches: {state.reason}\nslipway tries again at each check and switches as "
                f"soon as {active} answers. To move now anyway: `slipway rollback --force`. Or fix {active} "
                f"(`slipway load {active}` if it was unloaded).",
                facts={"deployment": state.deployment_id, "version": state.version, "to": active},
                at=self._wall(),
            )
        )
