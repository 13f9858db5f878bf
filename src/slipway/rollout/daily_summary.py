"""The daily summary: the morning mail that says what the last 24 hours did to the routes.

Four parts, in the order a reader asks, like the summary sent when a canary
or bake ends: what changed (every route change in the window, counted by
kind, the notable ones listed with who and why), what was checked (the
canaries, bakes and shadow runs running or ended in the window, their latest
verdict, categories that could not be judged for lack of labels), what was
found (rollbacks and their reasons, notifications that could not be
delivered, requests the recorder lost), the traffic per slot, and what to do
next. A quiet day says so in one line: people learn to trust the mail
arriving. Pure: the facts in, one notification out; every list is capped so a
hostile or huge day still makes a short mail.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from slipway.core.deliveries import Delivery, Outcome
from slipway.core.notifications import Notification, Severity
from slipway.core.types import RouteChange, RouteChangeKind

EVENT = "summary.daily"
#: The summary covers this many seconds before the time it is composed.
WINDOW_S = 86_400.0
#: At most this many items in any one list; the rest is counted ("and 3 more").
LIST_MAX = 10
#: Longest text taken from any one fact (a reason, an actor, an error).
TEXT_MAX = 200

#: Route changes a reader wants named one by one; weights steps are only counted.
_NOTABLE = frozenset(
    {
        RouteChangeKind.DEPLOY,
        RouteChangeKind.SWITCH,
        RouteChangeKind.ROLLBACK,
        RouteChangeKind.PROMOTE,
        RouteChangeKind.CONFIG,
    }
)


@dataclass(frozen=True, slots=True)
class RolloutFact:
    """One canary, bake or shadow run that was running or ended in the window."""

    #: "canary", "bake" or "shadow".
    kind: str
    version: str
    slot: str
    #: Its status in words: "running", "stable", "rolled back", ...
    status: str
    #: The latest verdict and why, in words ("pass: every metric within its bound").
    verdict: str = ""
    #: Categories it could not judge for lack of labels.
    unjudged: tuple[str, ...] = ()
    #: Wall-clock time it is due to end when still running.
    until: float | None = None
    running: bool = False
    rolled_back: bool = False


@dataclass(frozen=True, slots=True)
class DailyFacts:
    """Everything the summary says, read by the caller from the store and the gateway."""

    #: Wall-clock time the summary is composed at (the window ends here).
    now: float
    history: Sequence[RouteChange] = ()
    rollouts: Sequence[RolloutFact] = ()
    deliveries: Sequence[Delivery] = ()
    #: Requests per slot over the window.
    traffic: Mapping[str, int] = field(default_factory=dict)
    #: Requests the recorder lost or dropped, when known.
    lost: int | None = None
    dropped: int | None = None


def _cut(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 3] + "..."


def _capped(items: Sequence[str]) -> list[str]:
    shown = [f"  - {item}" for item in items[:LIST_MAX]]
    if len(items) > LIST_MAX:
        shown.append(f"  - and {len(items) - LIST_MAX} more")
    return shown


def _clock(at: float) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(at))


def _day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def _is_automatic(change: RouteChange) -> bool:
    return change.actor.startswith("slipway")


def _change_line(change: RouteChange) -> str:
    kind = str(change.kind)
    if change.kind is RouteChangeKind.ROLLBACK:
        kind = "automatic rollback" if _is_automatic(change) else "manual rollback"
    moved = f"{change.from_active} -> {change.to_active}" if change.from_active else change.to_active
    why = f": {_cut(change.reason)}" if change.reason else ""
    return f"{_clock(change.at)} {kind} ({_cut(moved)}) by {_cut(change.actor)}{why}"


def daily_summary(facts: DailyFacts) -> Notification:
    """The summary of the 24 hours before `facts.now`; one line when nothing happened."""
    start = facts.now - WINDOW_S
    changes = sorted((c for c in facts.history if start <= c.at <= facts.now), key=lambda c: c.at)
    failed = [d for d in facts.deliveries if d.outcome is Outcome.FAILED and start <= d.at <= facts.now]
    rollbacks = [c for c in changes if c.kind is RouteChangeKind.ROLLBACK]
    rollouts = list(facts.rollouts)
    lost = (facts.lost or 0) + (facts.dropped or 0)
    traffic = {slot: n for slot, n in facts.traffic.items() if n > 0}
    day = _day(facts.now)
    facts_out = {
        "window": f"{_day(start)} {_clock(start)} to {_day(facts.now)} {_clock(facts.now)}",
        "route changes": str(len(changes)),
        "rollbacks": str(len(rollbacks)),
        "failed deliveries": str(len(failed)),
    }
    quiet = not changes and not rollouts and not failed and lost == 0
    if quiet:
        served = sum(traffic.values())
        line = "A quiet day: no route change, no rollout, every notification delivered"
        line += f", {served} request(s) served." if served else "."
        return Notification(
            event=EVENT, title=f"daily summary {day}: a quiet day", text=line, facts=facts_out, at=facts.now
        )

    lines: list[str] = []
    # What changed.
    counts = Counter(str(c.kind) for c in changes)
    counted = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "none"
    lines.append(f"What changed: {len(changes)} route change(s) ({counted}).")
    lines += _capped([_change_line(c) for c in changes if c.kind in _NOTABLE])

    # What was checked.
    if rollouts:
        lines.append(f"What was checked: {len(rollouts)} rollout(s).")
        checked = []
        for r in rollouts:
            item = f"{_cut(r.kind)} of {_cut(r.version)} in {_cut(r.slot)}: {_cut(r.status)}"
            if r.verdict:
                item += f"; latest verdict {_cut(r.verdict)}"
            if r.unjudged:
                shown = ", ".join(_cut(c) for c in r.unjudged[:LIST_MAX])
                more = f" and {len(r.unjudged) - LIST_MAX} more" if len(r.unjudged) > LIST_MAX else ""
                item += f"; not enough labels to judge {shown}{more}"
            checked.append(item)
        lines += _capped(checked)
    else:
        lines.append("What was checked: no canary, bake or shadow run.")

    # What was found.
    found: list[str] = []
    for c in rollbacks:
        how = "automatic" if _is_automatic(c) else "manual"
        found.append(
            f"{how} rollback to {_cut(c.to_active)} at {_clock(c.at)}: {_cut(c.reason) or 'no reason given'}"
        )
    by_sink = Counter(_cut(d.sink) for d in failed)
    for sink, n in sorted(by_sink.items()):
        last = next(d for d in reversed(failed) if _cut(d.sink) == sink)
        found.append(f"{n} notification(s) not delivered to {sink}: {_cut(last.error or 'no answer')}")
    if facts.lost:
        found.append(f"{facts.lost} request record(s) lost by the recorder")
    if facts.dropped:
        found.append(f"{facts.dropped} request record(s) dropped by the recorder")
    if found:
        lines.append("What was found:")
        lines += _capped(found)
    else:
        lines.append("What was found: nothing wrong.")

    # Traffic.
    if traffic:
        ranked = sorted(traffic.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{_cut(slot)} {n}" for slot, n in ranked[:LIST_MAX])
        more = f" and {len(ranked) - LIST_MAX} more slot(s)" if len(ranked) > LIST_MAX else ""
        lines.append(f"Traffic: {shown}{more} request(s).")
    else:
        lines.append("Traffic: no request recorded.")

    # What to do next.
    todo: list[str] = []
    for r in rollouts:
        if r.running:
            until = f" until {_day(r.until)} {_clock(r.until)}" if r.until is not None else ""
            todo.append(
                f"the {_cut(r.kind)} of {_cut(r.version)} is still running{until}: `slipway canary status`"
            )
        elif r.rolled_back:
            todo.append(
                f"{_cut(r.version)} in {_cut(r.slot)} was rolled back and awaits investigation: "
                "`slipway canary status --explain`"
            )
    if rollbacks and not any(r.rolled_back for r in rollouts):
        todo.append("look at why traffic was rolled back: `slipway history`")
    if failed:
        todo.append("a sink refused notifications: check it with `slipway notify test`")
    if lost:
        todo.append("the recorder lost records: see `slipway status` for the store's health")
    lines.append("What to do next:" if todo else "What to do next: nothing.")
    lines += _capped(todo)

    severity = Severity.WARNING if rollbacks or failed or lost else Severity.INFO
    title = f"daily summary {day}: {len(changes)} route change(s), {len(rollbacks)} rollback(s)"
    if failed:
        title += f", {len(failed)} undelivered notification(s)"
    return Notification(
        event=EVENT, title=title, severity=severity, text="\n".join(lines), facts=facts_out, at=facts.now
    )


def due_day(now: float, at: str) -> str | None:
    """The UTC day (YYYY-MM-DD) whose summary is due at wall time `now` for `at` ("HH:MM"), or None
    before that time of day."""
    hours, minutes = (int(part) for part in at.split(":"))
    tm = time.gmtime(now)
    if (tm.tm_hour, tm.tm_min) < (hours, minutes):
        return None
    return _day(now)


def next_due(now: float, at: str) -> float:
    """Wall time of the next `at` ("HH:MM" UTC) strictly after `now`."""
    hours, minutes = (int(part) for part in at.split(":"))
    midnight = now - now % 86_400.0
    due = midnight + hours * 3600 + minutes * 60
    return due if due > now else due + 86_400.0
