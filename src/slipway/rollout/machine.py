"""Route and deployment transitions as pure functions: (state, intent) -> (new state, change).

Nothing here touches the store or the network; `controller` commits the result
through the RouteStore port in one transaction and publishes it. Illegal
moves raise TransitionError with what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from slipway.core.deployments import DeploymentStatus
from slipway.core.errors import NotFoundError, TransitionError
from slipway.core.lora import same_adapter
from slipway.core.types import DrillPin, RouteChange, RouteChangeKind, RouteTable, Slot


def _change(
    old: RouteTable | None,
    new: RouteTable,
    kind: RouteChangeKind,
    actor: str,
    reason: str,
    now: float,
) -> RouteChange:
    return RouteChange(
        version=new.version,
        at=now,
        kind=kind,
        from_active=old.active if old else None,
        to_active=new.active,
        actor=actor,
        reason=reason,
        from_weights=dict(old.weights) if old else {},
        to_weights=dict(new.weights),
    )


def _next(old: RouteTable, new: RouteTable) -> RouteTable:
    """`new` (made with `replace(old, ...)`, so every field not named carries over) as the next version."""
    table = replace(new, version=old.version + 1)
    if table.mirror is not None and table.mirror in table.effective_weights():
        # A slot that serves users cannot also be their shadow: serving it ends the mirror.
        table = replace(table, mirror=None, mirror_bp=0, mirror_run=None)
    return table


def switch(
    table: RouteTable,
    to: str,
    *,
    actor: str,
    reason: str,
    now: float,
    kind: RouteChangeKind = RouteChangeKind.SWITCH,
) -> tuple[RouteTable, RouteChange]:
    """All traffic to `to`; the slot that was active becomes the rollback target."""
    if to not in table.slots:
        known = ", ".join(table.slots)
        raise NotFoundError(f"there is no slot {to!r}", hint=f"choose one of: {known}")
    if to == table.active and not table.weights:
        raise TransitionError(f"slot {to!r} is already active", hint="nothing to do")
    previous = table.active if to != table.active else table.previous_active
    new = _next(table, replace(table, active=to, weights={}, previous_active=previous))
    return new, _change(table, new, kind, actor, reason, now)


def rollback(
    table: RouteTable, *, to: str | None = None, actor: str, reason: str, now: float
) -> tuple[RouteTable, RouteChange]:
    """Back to the previous active slot (or `to`); any canary weights are cleared.

    During a weighted split "back" is the active (production) slot. With no
    recorded previous slot (a fresh start from a plain two-slot file) and
    exactly one other slot, that slot is the only sensible meaning of "back".
    """
    if to is None and table.weights:
        # Mid-split, "back" means everything to production: the active slot, not the candidate.
        to = table.active
    target = to or table.previous_active
    if target is None:
        others = table.standby_slots()
        if len(others) != 1:
            raise TransitionError(
                "there is no previous slot to roll back to",
                hint="name the slot to switch to: slipway rollback --to SLOT",
            )
        target = others[0]
    if target == table.active and not table.weights:
        raise TransitionError(
            f"slot {target!r} is already serving all traffic",
            hint="nothing to roll back; see `slipway history`",
        )
    return switch(table, target, actor=actor, reason=reason, now=now, kind=RouteChangeKind.ROLLBACK)


def adapter_rollback_plan(table: RouteTable, to: str | None) -> tuple[str, Slot | None]:
    """Where an adapter rollback sends traffic: (slot, new definition to stage there or None).

    Without `to` it is the plain rollback target. With `to`, a slot already
    serving that adapter is preferred; otherwise the standby is restaged with
    it on the active slot's engine — still only a route change, because the
    engine chooses the adapter per request.
    """
    if to is None:
        target = table.previous_active
        if target is None and len(table.standby_slots()) == 1:
            target = table.standby_slots()[0]
        if target is None:
            raise TransitionError(
                "there is no previous adapter to roll back to",
                hint="name the version: slipway adapters rollback --to VERSION",
            )
        return target, None
    active = table.active_slot
    serving = [
        name
        for name, slot in table.slots.items()
        if name != table.active and slot.adapter is not None and same_adapter(to, slot.adapter)
    ]
    if serving:
        prefer = table.previous_active if table.previous_active in serving else serving[0]
        return str(prefer), None
    if active.adapter is not None and same_adapter(to, active.adapter) and not table.weights:
        raise TransitionError(f"adapter {to!r} is already serving all traffic", hint="nothing to roll back")
    standby = table.standby_slots()
    if not standby:
        raise TransitionError(
            "there is no standby slot to stage the old adapter in", hint="add a second slot"
        )
    name = table.previous_active if table.previous_active in standby else standby[0]
    staged = active.with_changes(name=name, adapter=to, version=to)
    return str(name), staged


def put_slot(
    table: RouteTable, slot: Slot, *, actor: str, reason: str, now: float, allow_active: bool = False
) -> tuple[RouteTable, RouteChange]:
    """Define or redefine a slot. Changing what the active slot serves is refused by default."""
    if slot.name == table.active and not allow_active:
        standby = table.standby_slots()
        hint = f"deploy into a standby slot ({', '.join(standby)})" if standby else "add a second slot first"
        raise TransitionError(f"slot {slot.name!r} is serving production traffic", hint=hint)
    if table.weights.get(slot.name, 0) > 0 and not allow_active:
        raise TransitionError(
            f"slot {slot.name!r} has canary traffic", hint="abort or finish the canary first"
        )
    slots = dict(table.slots)
    slots[slot.name] = slot
    new = _next(table, replace(table, slots=slots))
    return new, _change(table, new, RouteChangeKind.SLOT, actor, reason, now)


def set_weights(
    table: RouteTable,
    weights: Mapping[str, int],
    *,
    actor: str,
    reason: str,
    now: float,
    kind: RouteChangeKind = RouteChangeKind.WEIGHTS,
) -> tuple[RouteTable, RouteChange]:
    from slipway.core.types import WEIGHT_SCALE

    unknown = sorted(set(weights) - set(table.slots))
    if unknown:
        raise TransitionError(f"weights name unknown slots: {', '.join(unknown)}")
    if sum(weights.values()) != WEIGHT_SCALE or any(w < 0 for w in weights.values()):
        raise TransitionError(f"weights must be non-negative and sum to {WEIGHT_SCALE} basis points")
    clean = {k: v for k, v in weights.items() if v > 0}
    new = _next(table, replace(table, weights=clean if clean != {table.active: WEIGHT_SCALE} else {}))
    return new, _change(table, new, kind, actor, reason, now)


def set_mirror(
    table: RouteTable,
    slot: str | None,
    sample_bp: int,
    *,
    run: str | None,
    actor: str,
    reason: str,
    now: float,
) -> tuple[RouteTable, RouteChange]:
    """Start copying `sample_bp` of routed requests to `slot` for shadow run `run`, or stop (`slot=None`)."""
    if slot is not None:
        if slot not in table.slots:
            raise NotFoundError(f"there is no slot {slot!r}", hint=f"choose one of: {', '.join(table.slots)}")
        if slot == table.active or table.weights.get(slot, 0) > 0:
            raise TransitionError(
                f"slot {slot!r} serves users; a shadow must be a standby slot",
                hint=f"deploy the candidate into a standby slot ({', '.join(table.standby_slots())})",
            )
        from slipway.core.types import WEIGHT_SCALE

        if not 0 < sample_bp <= WEIGHT_SCALE:
            raise TransitionError(f"mirror share must be above 0 and at most {WEIGHT_SCALE} basis points")
    elif table.mirror is None:
        raise TransitionError("no slot is being mirrored", hint="nothing to stop")
    on = slot is not None
    new = _next(
        table, replace(table, mirror=slot, mirror_bp=sample_bp if on else 0, mirror_run=run if on else None)
    )
    return new, _change(table, new, RouteChangeKind.SHADOW, actor, reason, now)


def set_drill(
    table: RouteTable, pin: DrillPin | None, *, actor: str, reason: str, now: float
) -> tuple[RouteTable, RouteChange]:
    """Pin a drill's own requests to a slot (or clear the pin with None); users' routes stay as they are.

    It is a route change like any other (versioned, in the history as a
    drill), so every replica takes it in through the same path as a switch.
    """
    if pin is not None and pin.slot not in table.slots:
        raise NotFoundError(
            f"there is no slot {pin.slot!r} to drill with", hint=f"choose one of: {', '.join(table.slots)}"
        )
    if pin is None and table.drill is None:
        raise TransitionError("no drill pin is set", hint="nothing to clear")
    new = _next(table, replace(table, drill=pin))
    return new, _change(table, new, RouteChangeKind.DRILL, actor, reason, now)


def replace_table(
    old: RouteTable | None,
    new_table: RouteTable,
    *,
    actor: str,
    reason: str,
    now: float,
    kind: RouteChangeKind = RouteChangeKind.CONFIG,
) -> tuple[RouteTable, RouteChange]:
    """Apply a whole table (a config file): same validated path as any API change."""
    version = (old.version if old else 0) + 1
    previous = (
        old.active if old and old.active != new_table.active else (old.previous_active if old else None)
    )
    if previous is not None and previous not in new_table.slots:
        previous = None
    # The config file does not know about a running shadow: its mirror survives a reload.
    mirror = old.mirror if old and old.mirror in new_table.slots and old.mirror != new_table.active else None
    new = RouteTable(
        version=version,
        slots=new_table.slots,
        active=new_table.active,
        weights=new_table.weights,
        previous_active=previous,
        name=new_table.name,
        mirror=mirror,
        mirror_bp=old.mirror_bp if old and mirror else 0,
        mirror_run=old.mirror_run if old and mirror else None,
        # Nor about a running drill: its pin survives while its slot does.
        drill=old.drill if old and old.drill and old.drill.slot in new_table.slots else None,
    )
    return new, _change(old, new, kind if old else RouteChangeKind.INIT, actor, reason, now)


def table_differences(current: RouteTable, wanted: RouteTable) -> list[str]:
    """What applying `wanted` (a routing file's table) would change in `current`, in words; [] if nothing.

    Only what decides where traffic goes counts: slots, the active slot,
    weights and the public name; versions, history and a running shadow's
    mirror do not (a file cannot know them).
    """
    found: list[str] = []
    if wanted.active != current.active:
        found.append(f"active slot {current.active} -> {wanted.active}")
    if dict(wanted.weights) != dict(current.weights):
        found.append(f"weights {dict(current.weights) or 'none'} -> {dict(wanted.weights) or 'none'}")
    for name in sorted(set(current.slots) - set(wanted.slots)):
        found.append(f"slot {name} removed")
    for name in sorted(set(wanted.slots) - set(current.slots)):
        found.append(
            f"slot {name} added ({wanted.slots[name].version_label} at {wanted.slots[name].endpoint})"
        )
    for name in sorted(set(current.slots) & set(wanted.slots)):
        old, new = current.slots[name], wanted.slots[name]
        if old != new:
            changed = [
                f"{f}: {getattr(old, f)!r} -> {getattr(new, f)!r}"
                for f in old.__dataclass_fields__
                if getattr(old, f) != getattr(new, f)
            ]
            found.append(f"slot {name} " + ", ".join(changed))
    if wanted.name != current.name:
        found.append(f"name {current.name!r} -> {wanted.name!r}")
    return found


_DEPLOYMENT_MOVES: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    DeploymentStatus.PENDING: frozenset(
        {
            DeploymentStatus.SMOKE_TESTING,
            DeploymentStatus.STAGED,
            DeploymentStatus.LIVE,
            DeploymentStatus.FAILED,
            DeploymentStatus.CHECKLIST_FAILED,
        }
    ),
    DeploymentStatus.SMOKE_TESTING: frozenset(
        {
            DeploymentStatus.SMOKE_FAILED,
            DeploymentStatus.CHECKLIST_FAILED,
            DeploymentStatus.STAGED,
            DeploymentStatus.LIVE,
            DeploymentStatus.FAILED,
        }
    ),
    #: Superseded (another deploy staged over it) counts as failed-to-go-live.
    DeploymentStatus.STAGED: frozenset(
        {DeploymentStatus.LIVE, DeploymentStatus.CANARY, DeploymentStatus.SHADOW, DeploymentStatus.FAILED}
    ),
    #: A shadow ends staged (stopped, expired, complete), or promoted through canary or blue-green.
    DeploymentStatus.SHADOW: frozenset(
        {DeploymentStatus.STAGED, DeploymentStatus.CANARY, DeploymentStatus.LIVE, DeploymentStatus.FAILED}
    ),
    DeploymentStatus.CANARY: frozenset(
        {DeploymentStatus.LIVE, DeploymentStatus.ROLLED_BACK, DeploymentStatus.FAILED}
    ),
    DeploymentStatus.LIVE: frozenset({DeploymentStatus.ROLLED_BACK}),
    DeploymentStatus.SMOKE_FAILED: frozenset(),
    DeploymentStatus.CHECKLIST_FAILED: frozenset(),
    DeploymentStatus.ROLLED_BACK: frozenset(),
    DeploymentStatus.FAILED: frozenset(),
}


def check_deployment_move(current: DeploymentStatus, target: DeploymentStatus) -> None:
    if target not in _DEPLOYMENT_MOVES[current]:
        raise TransitionError(f"a deployment cannot go from {current} to {target}")
