"""Rolling back to an earlier adapter version: a route change, never an engine call."""

from __future__ import annotations

import logging

from slipway.core.errors import TransitionError
from slipway.rollout import machine
from slipway.rollout.controller import Moved, RouteController

log = logging.getLogger("slipway.controller")


async def rollback_adapter(
    routes: RouteController, *, to: str | None, actor: str, reason: str, force: bool = False
) -> Moved:
    """Back to an earlier adapter version: a route change, never an engine call.

    If no slot serves `to`, the standby is restaged with it on the active
    slot's engine; the engine must have it loaded (checked first, and no
    force skips that). A slot that already serves it is checked for
    readiness like any rollback target, and `force` overrides that check.
    Restaging and switching are announced as one adapter rollback.
    """
    forced = False
    async with routes.lock:
        table = routes.table
        target, staged = machine.adapter_rollback_plan(table, to)
    if staged is not None:
        health = await routes.backend.check(staged)
        if not health.ready:
            raise TransitionError(
                f"adapter {to!r} cannot be served from {staged.endpoint}: {health.detail}",
                hint="deploy it instead: slipway deploy VERSION --adapter PATH (starts an engine for it)",
            )
    elif target not in table.effective_weights():
        problem = await routes.readiness(table.slots[target])
        if problem is not None and not force:
            again = (
                f"slipway adapters rollback --to {to} --force" if to else "slipway adapters rollback --force"
            )
            raise TransitionError(
                f"traffic was not moved: {problem}",
                hint=f"fix that backend, or roll back anyway if it is still the lesser harm: {again}",
            )
        if problem is not None:
            log.warning("forced past the readiness check: %s", problem)
            reason = f"{reason}; forced past the readiness check: {problem}"
            forced = True
    async with routes.lock:
        old = routes.table
        target, staged = machine.adapter_rollback_plan(old, to)
        table = old
        if staged is not None:
            table, change = machine.put_slot(
                table,
                staged,
                actor=actor,
                reason=f"adapter rollback: stage {to} in {target}",
                now=routes.now(),
            )
            table = await routes.commit(table, change, old.version, announce=False)
            routes.retire_later(old.slots.get(target))
        new, change = machine.rollback(table, to=target, actor=actor, reason=reason, now=routes.now())
        committed = await routes.commit(new, change, table.version, adapter=True, forced=forced)
    await routes.deployments.live_to_rolled_back(old.active, reason)
    return Moved(committed, change)
