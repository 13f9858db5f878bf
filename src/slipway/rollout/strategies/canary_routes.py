"""The route table a canary or a bake wants, as one route change against the current table.

Pure: the controller commits what this returns through the route
controller's optimistic transition, like every other route change.
"""

from __future__ import annotations

from slipway.core.errors import TransitionError
from slipway.core.types import WEIGHT_SCALE, RouteChange, RouteChangeKind, RouteTable
from slipway.rollout import machine
from slipway.rollout.strategies.canary_moves import ApplyRoute
from slipway.rollout.strategies.canary_state import CanaryState, desired_route


def route_change(
    table: RouteTable, state: CanaryState, effect: ApplyRoute, now: float
) -> tuple[RouteTable, RouteChange] | None:
    """The route change that makes `table` match what `state` wants, or None when it already does."""
    active, weight = desired_route(state)
    for slot in (state.baseline, state.candidate):
        if slot not in table.slots:
            raise TransitionError(f"slot {slot!r} of the canary of {state.version} is gone from the routes")
    if table.active != active:
        kind = effect.kind if effect.kind is not RouteChangeKind.CANARY else RouteChangeKind.SWITCH
        if active == state.candidate:
            kind = RouteChangeKind.PROMOTE
        elif table.active != state.candidate:
            raise TransitionError(
                f"the active slot is {table.active!r}, "
                f"not the canary's {state.baseline!r} or {state.candidate!r}"
            )
        return machine.switch(table, active, actor=effect.actor, reason=effect.reason, now=now, kind=kind)
    if active == state.candidate:
        return None if not table.weights else machine.set_weights(
            table, {active: WEIGHT_SCALE}, actor=effect.actor, reason=effect.reason, now=now, kind=effect.kind
        )  # fmt: skip
    wanted = {active: WEIGHT_SCALE - weight, state.candidate: weight} if weight else {active: WEIGHT_SCALE}
    current = table.effective_weights()
    if {k: v for k, v in wanted.items() if v} == current:
        return None
    return machine.set_weights(
        table, wanted, actor=effect.actor, reason=effect.reason, now=now, kind=effect.kind
    )
