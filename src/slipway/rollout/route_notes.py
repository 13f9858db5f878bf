"""A committed route change told to people, in plain words: who moved traffic from where to where, and why.

A canary and a shadow run announce their own route changes (their steps,
verdicts and endings); every other change (a rollback, a switch, a deploy's
switch, a config file, an adapter rollback) is announced by the route
controller with the note built here, once, by the replica that committed it.
Pure: no I/O.
"""

from __future__ import annotations

from slipway.core.notifications import Notification, Severity
from slipway.core.types import WEIGHT_SCALE, RouteChange, RouteChangeKind, RouteTable

#: The event name per kind of change (`route.<kind>`), so a receiver can filter without parsing words.
EVENTS: dict[RouteChangeKind, str] = {
    RouteChangeKind.ROLLBACK: "route.rollback",
    RouteChangeKind.SWITCH: "route.switch",
    RouteChangeKind.DEPLOY: "route.deploy",
    RouteChangeKind.CONFIG: "route.config",
    RouteChangeKind.INIT: "route.config",
    RouteChangeKind.SLOT: "route.staged",
    RouteChangeKind.WEIGHTS: "route.weights",
    RouteChangeKind.CANARY: "route.canary",
    RouteChangeKind.PROMOTE: "route.promote",
    RouteChangeKind.SHADOW: "route.shadow",
    RouteChangeKind.DRILL: "route.drill",
}
#: An adapter rollback is a rollback in the history; its note says which adapter came back.
ADAPTER_ROLLBACK = "route.adapter_rollback"


def serving(table: RouteTable | None) -> str:
    """Where traffic goes, in words: "blue (v2.1)" or "blue (v2.1) 90%, green (v2.2) 10%"."""
    if table is None:
        return "nothing"
    weights = table.effective_weights()
    if len(weights) <= 1:
        name = next(iter(weights), table.active)
        return _slot(table, name)
    return ", ".join(
        f"{_slot(table, name)} {bp * 100 / WEIGHT_SCALE:g}%"
        for name, bp in sorted(weights.items(), key=lambda kv: -kv[1])
    )


def _slot(table: RouteTable, name: str) -> str:
    slot = table.slots.get(name)
    return f"{name} ({slot.version_label})" if slot is not None else name


def route_note(
    change: RouteChange,
    before: RouteTable | None,
    after: RouteTable,
    *,
    adapter: bool = False,
    forced: bool = False,
) -> Notification:
    """The one notification for `change`, which turned `before` into `after` (route v`after.version`).

    A rollback is a warning: something was wrong enough to go back. A change
    forced past a failed readiness check is critical: traffic now goes to a
    slot that did not answer.
    """
    was, now, by = serving(before), serving(after), change.actor
    kind = change.kind
    event = ADAPTER_ROLLBACK if adapter else EVENTS.get(kind, f"route.{kind}")
    if adapter:
        title = f"adapter rolled back by {by}: traffic moved from {was} to {now}"
    elif kind is RouteChangeKind.ROLLBACK:
        title = f"rolled back by {by}: traffic moved from {was} to {now}"
    elif kind is RouteChangeKind.DEPLOY:
        version = after.slots[after.active].version_label
        title = f"{version} deployed by {by}: traffic moved from {was} to {now}"
    elif kind is RouteChangeKind.SWITCH:
        title = f"switched by {by}: traffic moved from {was} to {now}"
    elif kind is RouteChangeKind.SLOT:
        staged = [n for n in after.slots if before is None or before.slots.get(n) != after.slots[n]]
        what = ", ".join(_slot(after, n) for n in staged) or "a slot"
        title = f"{what} staged by {by}; traffic stays on {now}"
    elif kind is RouteChangeKind.INIT:
        title = f"routes first set from the config file by {by}: traffic on {now}"
    elif kind is RouteChangeKind.CONFIG:
        moved = f"traffic moved from {was} to {now}" if was != now else f"traffic stays on {now}"
        title = f"config file applied by {by}: {moved}"
    else:
        title = f"route changed ({kind}) by {by}: traffic moved from {was} to {now}"
    severity = Severity.INFO
    if kind is RouteChangeKind.ROLLBACK:
        severity = Severity.WARNING
    if forced:
        severity = Severity.CRITICAL
    return Notification(
        event=event,
        title=title,
        severity=severity,
        text=f"Why: {change.reason}\nRoute v{after.version}; see slipway history.",
        facts={
            "route version": str(after.version),
            "kind": "adapter rollback" if adapter else str(kind),
            "by": by,
            "from": was,
            "to": now,
        },
        at=change.at,
    )
