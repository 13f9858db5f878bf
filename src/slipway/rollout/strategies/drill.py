"""A rollback drill's plan and its verdict, as pure functions.

Which slot a drill rehearses with (the one a rollback would go to), the pin
each step commits, and the result kept in the store: the checklist reads
`switch_ms`, `switch_back_ms`, `replicas`, `smoke_passed` and `reason` from it,
so those keys are stable.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.core.errors import ConflictError, NotFoundError, TransitionError
from slipway.core.types import DrillPin, RouteChange, RouteTable
from slipway.rollout import machine

#: A pin older than this is a killed drill's, left uncleared: the next drill replaces it.
PIN_STALE_AFTER_S = 300.0


def refuse_if_running(pin: DrillPin | None, now: float) -> None:
    """Refuse a drill while another drill's pin is set (unless it is old enough to be a killed drill's)."""
    if pin is None:
        return
    age = now - pin.started_at
    if age < PIN_STALE_AFTER_S:
        raise ConflictError(
            f"a drill is already running (started by {pin.actor} {age:.0f} s ago)",
            hint="wait for it to finish, then see its result: slipway drill list",
        )


def choose_drill_slot(table: RouteTable, requested: str | None, unloaded: Collection[str]) -> str:
    """The standby a drill rehearses with: `requested`, else where a rollback would go now.

    Refused, with the fix, when there is none, when it serves users (the
    active slot, a canary's candidate), or when it was unloaded (a rollback
    to it would load it first; a drill must rehearse a slot that is ready).
    """
    if requested is not None:
        if requested not in table.slots:
            raise NotFoundError(
                f"there is no slot {requested!r} to drill with",
                hint=f"choose one of: {', '.join(table.standby_slots()) or 'none (add a standby slot)'}",
            )
        name = requested
    else:
        standby = table.standby_slots()
        if table.previous_active in standby:
            name = str(table.previous_active)
        elif len(standby) == 1:
            name = standby[0]
        elif not standby:
            raise TransitionError(
                "there is no standby slot to rehearse a rollback with",
                hint="deploy the previous version into a standby slot: slipway deploy VERSION --no-switch",
            )
        else:
            raise TransitionError(
                f"no previous version is recorded and there are several standby slots ({', '.join(standby)})",
                hint="name the one a rollback would use: slipway drill --slot NAME",
            )
    if name == table.active:
        raise TransitionError(
            f"slot {name!r} is the active slot; a drill rehearses the switch to a standby",
            hint=f"drill with a standby slot ({', '.join(table.standby_slots()) or 'none yet'})",
        )
    if table.weights.get(name, 0) > 0:
        raise TransitionError(
            f"slot {name!r} takes canary traffic; a drill rehearses with a slot no user is sent to",
            hint="wait for the canary to finish, or drill with another slot: slipway drill --slot NAME",
        )
    if name in unloaded:
        raise TransitionError(
            f"slot {name!r} was unloaded, so a rollback to it would have to load it first",
            hint=f"load it again, then drill: slipway slots load {name}",
        )
    return name


def pin_plan(
    token: str, slot: str | None, *, actor: str, reason: str, now: float, started_at: float
) -> Callable[[RouteTable], tuple[RouteTable, RouteChange] | None]:
    """A plan for `RouteController.transition`: pin the drill `token` to `slot` (None: clear it).

    Idempotent, as `transition` requires: nothing to commit when the table
    already says so, and a pin that is not this drill's is never cleared.
    """

    def plan(table: RouteTable) -> tuple[RouteTable, RouteChange] | None:
        current = table.drill
        if slot is None:
            if current is None or current.id != token:
                return None
            return machine.set_drill(table, None, actor=actor, reason=reason, now=now)
        if current is not None and current.id == token and current.slot == slot:
            return None
        if current is not None and current.id != token:
            # Checked on the table the commit is planned on (and planned again if another commit won):
            # two drills started at once on two replicas cannot both pin.
            refuse_if_running(current, now)
        pin = DrillPin(id=token, slot=slot, actor=actor, started_at=started_at)
        return machine.set_drill(table, pin, actor=actor, reason=reason, now=now)

    return plan


@dataclass
class ReplicaLeg:
    """One replica's view of one switch: when the drill's requests were first answered by the target."""

    replica: str
    url: str
    #: Milliseconds from the start of the commit to the first answer from the target slot.
    switch_ms: float | None = None
    #: Answers from the target slot since then.
    answered: int = 0
    #: Requests answered by the slot it left, or failed, after the commit.
    before: int = 0
    failed: int = 0
    last_error: str | None = None


@dataclass
class DrillOutcome:
    """What a drill measured, filled in as it goes, and turned into the stored result at the end."""

    slot: str
    active: str
    there: list[ReplicaLeg] = field(default_factory=list)
    back: list[ReplicaLeg] = field(default_factory=list)
    smoke_passed: bool | None = None
    smoke: Mapping[str, Any] | None = None
    #: Drill requests a replica routed as a user's (it did not honour the pin): must stay 0.
    unpinned: int = 0
    requests: int = 0
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.reason is None and self.smoke_passed is not False


def _max_ms(legs: Sequence[ReplicaLeg]) -> float | None:
    times = [leg.switch_ms for leg in legs]
    if not legs or any(t is None for t in times):
        return None
    return round(max(t for t in times if t is not None), 1)


def _last_error(leg: ReplicaLeg, back: Mapping[str, ReplicaLeg]) -> str | None:
    returned = back.get(leg.replica)
    return leg.last_error or (returned.last_error if returned is not None else None)


def drill_result(outcome: DrillOutcome, *, route_versions: Sequence[int] = ()) -> dict[str, Any]:
    """The stored result: `switch_ms` (slowest replica, to the standby), `switch_back_ms`, per replica."""
    back = {leg.replica: leg for leg in outcome.back}
    return {
        "switch_ms": _max_ms(outcome.there),
        "switch_back_ms": _max_ms(outcome.back),
        "replicas": [
            {
                "replica": leg.replica,
                "url": leg.url,
                "switch_ms": None if leg.switch_ms is None else round(leg.switch_ms, 1),
                "switch_back_ms": (
                    None
                    if leg.replica not in back or back[leg.replica].switch_ms is None
                    else round(back[leg.replica].switch_ms or 0.0, 1)
                ),
                "answered_by_standby": leg.answered,
                "last_error": _last_error(leg, back),
            }
            for leg in outcome.there
        ],
        "smoke_passed": outcome.smoke_passed,
        "smoke": dict(outcome.smoke) if outcome.smoke is not None else None,
        "active": outcome.active,
        "drill_requests": outcome.requests,
        "unpinned_requests": outcome.unpinned,
        "route_versions": list(route_versions),
        "reason": outcome.reason,
    }
