"""How drills read in the terminal: `slipway status`'s drill line and the times in drill tables."""

from __future__ import annotations

from typing import Any

from rich.markup import escape


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g} ms"


def age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86_400:.0f}d"


def drill_status_line(drill: dict[str, Any] | None) -> str | None:
    """`slipway status`'s line about drills: the last one's age and result, and one running now."""
    if not drill:
        return None
    words = []
    last = drill.get("last")
    if last:
        result = "passed" if last["passed"] else f"[red]failed[/]: {escape(last.get('reason') or '')}"
        words.append(
            f"last drill {age(last['age_s'])} ago with {escape(last['slot'])}: {result}"
            + (f" (switch {ms(last.get('switch_ms'))})" if last["passed"] else "")
        )
    running = drill.get("running")
    if running:
        words.append(f"a drill with {escape(running['slot'])} is running (by {escape(running['by'])})")
    return "; ".join(words) or None
