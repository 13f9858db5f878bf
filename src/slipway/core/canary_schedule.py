"""A canary's schedule: the weight steps, how long each lasts, how often to check.

Written the way operators say it, on the command line or in the routing file:

    --steps 5%:2h,25%:4h,100%   --interval 15m

Each step is `WEIGHT%:DURATION`; the last is `100%` with no duration (reaching
it promotes the candidate). Durations take `s`, `m`, `h` and `d` and may be
combined (`1h30m`). The monitoring windows after a promotion (and a bake's)
are written the same way, each `UNTIL every EVERY`:

    1h every 5m, 24h every 30m, 7d every 1d

Every mistake is a ConfigError that names the bad part
and shows a correct example. Pure: `core` so the routing file's schema can
validate a plan without importing the control plane.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from slipway.core.errors import ConfigError
from slipway.core.types import WEIGHT_SCALE

DEFAULT_STEPS = "5%:2h,25%:4h,100%"
DEFAULT_INTERVAL = "15m"
#: How long a hold ("investigate, then decide, 1-4 h") may last before it is rolled back (when in doubt).
DEFAULT_HOLD_LIMIT = "4h"
#: How often guard checks run between the scheduled ones (only a rollback verdict counts); "0"/"off" = none.
DEFAULT_GUARD_INTERVAL = "1m"
STEPS_EXAMPLE = "write it like 5%:2h,25%:4h,100%"
#: The monitoring windows after a promotion or a switch: the last window's end is when the watch ends stable.
DEFAULT_WINDOWS = "1h every 5m, 24h every 30m, 7d every 1d"
WINDOWS_EXAMPLE = f"write it like {DEFAULT_WINDOWS}"
#: At most this many windows, ending at most this long after the promotion.
MAX_WINDOWS = 20
MAX_WINDOWS_S = 90 * 86400.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: No phase, interval or hold lasts longer than a year (and a timer that far out overflows the loop).
MAX_DURATION_S = 366 * 86400.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


class InconclusivePolicy(StrEnum):
    """What the end of a phase does when the checks still cannot tell (too little data)."""

    #: Lengthen the phase one check interval at a time, at most doubling it; then roll back.
    EXTEND = "extend"
    #: Stay at this weight until a check passes, an operator acts, or the hold limit ends it.
    HOLD = "hold"
    #: When in doubt, roll back.
    ROLLBACK = "rollback"


def parse_duration(text: str, *, what: str = "duration") -> float:
    """'90s', '15m', '2h', '1d', '1h30m' → seconds (> 0)."""
    raw = text.strip().lower().replace(" ", "")
    if not raw:
        raise ConfigError(f"{what} is empty", hint="write a number with a unit: 90s, 15m, 2h or 1d")
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(raw):
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            hint = f"add a unit: {raw}s, {raw}m or {raw}h"
        else:
            hint = "write a number with a unit (s, m, h, d), e.g. 90s, 15m, 2h, 1h30m"
        raise ConfigError(f"{what} {text!r} is not a duration", hint=hint)
    if total <= 0:
        raise ConfigError(f"{what} {text!r} must be longer than zero", hint="e.g. 15m")
    if total > MAX_DURATION_S:
        raise ConfigError(
            f"{what} {text!r} is longer than {MAX_DURATION_S // 86400:g} days, the longest duration allowed",
            hint="e.g. 15m, 4h or 7d",
        )
    return total


def parse_guard_interval(text: str) -> float:
    """A guard interval: a duration, or "0"/"off" (no guard checks) → seconds (0 = off)."""
    raw = str(text).strip().lower()
    if raw in ("0", "off", "none", "false", "0s"):
        return 0.0
    return parse_duration(raw, what="guard_interval")


def format_duration(seconds: float) -> str:
    """Seconds → the shortest exact form of `parse_duration`'s syntax ('2h', '1h30m', '90s')."""
    if seconds <= 0:
        return "0s"
    rest = round(seconds)
    if rest == 0:
        return f"{seconds:.2g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _weight_bp(text: str, item: str) -> int:
    raw = text.strip()
    if not raw.endswith("%"):
        raise ConfigError(
            f"step {item!r}: the weight {raw!r} needs a percent sign", hint=f"write {raw}%; {STEPS_EXAMPLE}"
        )
    try:
        pct = Decimal(raw[:-1])
    except InvalidOperation:
        raise ConfigError(f"step {item!r}: {raw!r} is not a percentage", hint=STEPS_EXAMPLE) from None
    if not pct.is_finite():
        raise ConfigError(f"step {item!r}: {raw!r} is not a percentage", hint=STEPS_EXAMPLE)
    bp = pct * WEIGHT_SCALE / 100
    if bp != bp.to_integral_value():
        raise ConfigError(
            f"step {item!r}: weights go in steps of 0.01 %", hint="round it, e.g. 0.05% or 2.5%"
        )
    if not 0 < bp <= WEIGHT_SCALE:
        raise ConfigError(
            f"step {item!r}: the weight must be above 0 % and at most 100 %", hint=STEPS_EXAMPLE
        )
    return int(bp)


@dataclass(frozen=True, slots=True)
class CanaryStep:
    #: The candidate's share of traffic, in basis points (WEIGHT_SCALE = 100 %).
    weight_bp: int
    #: How long the phase lasts; None only for the final 100 % step (promotion).
    duration_s: float | None

    @property
    def percent(self) -> float:
        return self.weight_bp * 100 / WEIGHT_SCALE

    def __str__(self) -> str:
        weight = f"{self.percent:g}%"
        return weight if self.duration_s is None else f"{weight}:{format_duration(self.duration_s)}"


def parse_steps(spec: str | list[str] | tuple[str, ...]) -> tuple[CanaryStep, ...]:
    """'5%:2h,25%:4h,100%' (or the same as a list of items) → steps; errors say which item and why."""
    items = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else [str(s) for s in spec]
    if not items or items == [""]:
        raise ConfigError("the canary has no steps", hint=STEPS_EXAMPLE)
    steps: list[CanaryStep] = []
    for item in items:
        if not item:
            raise ConfigError("an empty step (two commas in a row?)", hint=STEPS_EXAMPLE)
        weight, sep, duration = item.partition(":")
        bp = _weight_bp(weight, item)
        seconds = parse_duration(duration, what=f"step {item!r}: duration") if sep else None
        if steps and bp <= steps[-1].weight_bp:
            raise ConfigError(
                f"step {item!r}: weights must increase from step to step "
                f"({steps[-1].percent:g}% comes before it)",
                hint=STEPS_EXAMPLE,
            )
        if bp == WEIGHT_SCALE and seconds is not None:
            raise ConfigError(
                f"step {item!r}: 100 % is the promotion and has no duration",
                hint="end the steps with a bare 100%; the monitoring windows after it are automatic",
            )
        if bp < WEIGHT_SCALE and seconds is None:
            raise ConfigError(
                f"step {item!r} needs a duration: how long the candidate stays at {weight.strip()}",
                hint=f"write {weight.strip()}:2h; {STEPS_EXAMPLE}",
            )
        steps.append(CanaryStep(bp, seconds))
    if steps[-1].weight_bp != WEIGHT_SCALE:
        raise ConfigError(
            f"the last step is {steps[-1]}, but a canary ends at 100%", hint=f"add ,100%; {STEPS_EXAMPLE}"
        )
    if len(steps) < 2:
        raise ConfigError(
            "a canary needs at least one step below 100%",
            hint=f"{STEPS_EXAMPLE}; for all traffic at once use --strategy bluegreen",
        )
    return tuple(steps)


@dataclass(frozen=True, slots=True)
class MonitorWindow:
    """One monitoring window: until this long after the promotion, check this often."""

    until_s: float
    every_s: float

    def __str__(self) -> str:
        return f"{format_duration(self.until_s)} every {format_duration(self.every_s)}"


def parse_windows(
    spec: str | list[str] | tuple[str, ...], *, what: str = "windows"
) -> tuple[MonitorWindow, ...]:
    """'1h every 5m, 24h every 30m, 7d every 1d' (or the same as a list) → windows; errors name the item."""
    items = (
        [part.strip() for part in spec.split(",")]
        if isinstance(spec, str)
        else [str(s).strip() for s in spec]
    )
    if not items or items == [""]:
        raise ConfigError(f"{what} has no windows: the watch needs at least one", hint=WINDOWS_EXAMPLE)
    if len(items) > MAX_WINDOWS:
        raise ConfigError(
            f"{what} has {len(items)} windows; at most {MAX_WINDOWS} are allowed",
            hint=f"merge neighbouring windows; {WINDOWS_EXAMPLE}",
        )
    windows: list[MonitorWindow] = []
    for item in items:
        if not item:
            raise ConfigError(f"{what}: an empty window (two commas in a row?)", hint=WINDOWS_EXAMPLE)
        match = re.fullmatch(r"(.+?)\s+every\s+(.+)", item, flags=re.IGNORECASE)
        if match is None:
            raise ConfigError(
                f"{what}: window {item!r} is not UNTIL every EVERY",
                hint=f"e.g. 1h every 5m (a check every 5 min until 1 h in); {WINDOWS_EXAMPLE}",
            )
        until = parse_duration(match.group(1), what=f"{what}: window {item!r}: until")
        every = parse_duration(match.group(2), what=f"{what}: window {item!r}: every")
        start = windows[-1].until_s if windows else 0.0
        if until <= start:
            raise ConfigError(
                f"{what}: window {item!r} ends at {format_duration(until)}, not after the window before it "
                f"({format_duration(start)}); each window's until must be later than the last",
                hint=WINDOWS_EXAMPLE,
            )
        if every > until - start:
            raise ConfigError(
                f"{what}: window {item!r} checks every {format_duration(every)}, longer than the window "
                f"itself ({format_duration(start) if start else 'the start'} to {format_duration(until)})",
                hint=f"check at most once per window: every {format_duration(until - start)} or less",
            )
        windows.append(MonitorWindow(until, every))
    if windows[-1].until_s > MAX_WINDOWS_S:
        raise ConfigError(
            f"{what}: the last window ends at {format_duration(windows[-1].until_s)}; "
            f"the watch may last at most {MAX_WINDOWS_S / 86400:g} days",
            hint=f"end the last window at 90d or sooner; {WINDOWS_EXAMPLE}",
        )
    return tuple(windows)


def windows_spec(windows: Sequence[MonitorWindow]) -> str:
    """The windows as the config takes them: '1h every 5m, 24h every 30m, 7d every 1d'."""
    return ", ".join(str(w) for w in windows)


def span_words(seconds: float) -> str:
    """A window's end for people: 'an hour', '24 h', 'a week', '10 min', '14 days'."""
    if seconds == 3600:
        return "an hour"
    if seconds == 7 * 86400:
        return "a week"
    if seconds < 60 or (seconds < 600 and seconds % 60):
        return f"{seconds:g} s"
    if seconds < 3600 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    if seconds <= 2 * 86400 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 86400 == 0:
        return f"{seconds / 86400:g} days"
    return format_duration(seconds)


def _often(every: float) -> str:
    if every == 86400:
        return "daily"
    if every == 3600:
        return "hourly"
    return f"every {span_words(every).removeprefix('an ').removeprefix('a ')}"


def windows_text(windows: Sequence[MonitorWindow]) -> str:
    """'every 5 min for the first hour, every 30 min to 24 h, daily to a week' (the default)."""
    parts = []
    for index, window in enumerate(windows):
        spoken = span_words(window.until_s)
        if index == 0:
            parts.append(
                f"{_often(window.every_s)} for the first {spoken.removeprefix('an ').removeprefix('a ')}"
            )
        else:
            parts.append(f"{_often(window.every_s)} to {spoken}")
    return ", ".join(parts)


def clean_words(seconds: float) -> str:
    """Why a watch that lasted `seconds` ends stable: 'a clean week', '10 min of clean checks'."""
    return "a clean week" if seconds == 7 * 86400 else f"{span_words(seconds)} of clean checks"


DEFAULT_MONITOR_WINDOWS = parse_windows(DEFAULT_WINDOWS)


@dataclass(frozen=True, slots=True)
class CanarySchedule:
    steps: tuple[CanaryStep, ...]
    interval_s: float = 900.0
    inconclusive: InconclusivePolicy = InconclusivePolicy.ROLLBACK
    hold_limit_s: float = 4 * 3600.0
    #: Run the post-promotion monitoring windows (`windows`).
    monitor: bool = True
    #: Guard checks between the scheduled ones, this often (clock seconds); they act only on a
    #: rollback verdict, at once. 0 = none.
    guard_s: float = 0.0
    #: The monitoring windows after the promotion (or a bake's switch); the last one's end is "stable".
    windows: tuple[MonitorWindow, ...] = DEFAULT_MONITOR_WINDOWS

    @classmethod
    def parse(
        cls,
        steps: str | list[str] | tuple[str, ...] = DEFAULT_STEPS,
        interval: str = DEFAULT_INTERVAL,
        *,
        inconclusive: InconclusivePolicy | str = InconclusivePolicy.ROLLBACK,
        hold_limit: str = DEFAULT_HOLD_LIMIT,
        monitor: bool = True,
        guard_interval: str = DEFAULT_GUARD_INTERVAL,
        windows: str | list[str] | tuple[str, ...] = DEFAULT_WINDOWS,
    ) -> CanarySchedule:
        try:
            policy = InconclusivePolicy(inconclusive)
        except ValueError:
            choices = ", ".join(p.value for p in InconclusivePolicy)
            raise ConfigError(f"inconclusive: {inconclusive!r} is not one of {choices}") from None
        return cls(
            steps=parse_steps(steps),
            interval_s=parse_duration(interval, what="interval"),
            inconclusive=policy,
            hold_limit_s=parse_duration(hold_limit, what="hold_limit"),
            monitor=monitor,
            guard_s=parse_guard_interval(guard_interval),
            windows=parse_windows(windows),
        )

    @property
    def steps_text(self) -> str:
        return ",".join(str(s) for s in self.steps)

    @property
    def stable_after_s(self) -> float:
        """How long after the promotion (or a bake's switch) a clean watch ends stable."""
        return self.windows[-1].until_s

    @property
    def windows_text(self) -> str:
        """The monitoring windows in words: 'every 5 min for the first hour, ..., daily to a week'."""
        return windows_text(self.windows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps_text,
            "step_list": [[s.weight_bp, s.duration_s] for s in self.steps],
            "interval": format_duration(self.interval_s),
            "interval_s": self.interval_s,
            "inconclusive": str(self.inconclusive),
            "hold_limit_s": self.hold_limit_s,
            "monitor": self.monitor,
            "guard_s": self.guard_s,
            "windows": windows_spec(self.windows),
            "window_list": [[w.until_s, w.every_s] for w in self.windows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CanarySchedule:
        return cls(
            steps=tuple(CanaryStep(int(bp), None if d is None else float(d)) for bp, d in data["step_list"]),
            interval_s=float(data["interval_s"]),
            inconclusive=InconclusivePolicy(data.get("inconclusive", "rollback")),
            hold_limit_s=float(data.get("hold_limit_s", 4 * 3600.0)),
            monitor=bool(data.get("monitor", True)),
            # A plan saved before guard checks existed keeps running without them.
            guard_s=float(data.get("guard_s", 0.0)),
            # A plan saved before the windows were configurable keeps the windows it ran with then.
            windows=tuple(MonitorWindow(float(u), float(e)) for u, e in data["window_list"])
            if data.get("window_list")
            else DEFAULT_MONITOR_WINDOWS,
        )
