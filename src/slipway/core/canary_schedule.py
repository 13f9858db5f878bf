"""A canary's schedule: the weight steps, how long each lasts, how often to check.

Written the way operators say it, on the command line or in the routing file:

    --steps 5%:2h,25%:4h,100%   --interval 15m

Each step is `WEIGHT%:DURATION`; the last is `100%` with no duration (reaching
it promotes the candidate). Durations take `s`, `m`, `h` and `d` and may be
combined (`1h30m`). Every mistake is a ConfigError that names the bad part
and shows a correct example. Pure: `core` so the routing file's schema can
validate a plan without importing the control plane.
"""

from __future__ import annotations

import re
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
class CanarySchedule:
    steps: tuple[CanaryStep, ...]
    interval_s: float = 900.0
    inconclusive: InconclusivePolicy = InconclusivePolicy.ROLLBACK
    hold_limit_s: float = 4 * 3600.0
    #: Run the post-promotion monitoring windows (every 5 min for 1 h, 30 min to 24 h, daily to a week).
    monitor: bool = True
    #: Guard checks between the scheduled ones, this often (clock seconds); they act only on a
    #: rollback verdict, at once. 0 = none.
    guard_s: float = 0.0

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
        )

    @property
    def steps_text(self) -> str:
        return ",".join(str(s) for s in self.steps)

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
        )
