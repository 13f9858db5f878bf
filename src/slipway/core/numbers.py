"""Every number in the config has a range, and NaN or infinity is never in it.

YAML reads `.nan` and `.inf` as floats, and a comparison with NaN is always
false: `weights: {blue: .nan, green: 100}` once passed "not negative" and
"sums to 100" and then broke every later reload. A `Range` on a field refuses
non-finite values, booleans and anything outside its bounds, with one
message that names the value and the whole allowed range (the field and line
are added by the config parser), e.g.

    slipway.yaml:4: weights.blue: nan is not a finite number; allowed: 0 to 100 (percent)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema


def _fmt(value: float) -> str:
    if abs(value) < 1e15 and float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):g}"


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds of a numeric field, as pydantic metadata: `Annotated[float, Range(0, 60, low_open=True)]`."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    unit: str = ""

    def describe(self) -> str:
        low = f"above {_fmt(self.low)}" if self.low_open else None
        high = f"below {_fmt(self.high)}" if self.high_open else None
        if low is None and high is None:
            text = f"{_fmt(self.low)} to {_fmt(self.high)}"
        else:
            text = f"{low or f'at least {_fmt(self.low)}'} and {high or f'at most {_fmt(self.high)}'}"
        return f"{text} ({self.unit})" if self.unit else text

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def _before(self, value: Any, integer: bool) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"{str(value).lower()} is not a number; allowed: {self.describe()}")
        if isinstance(value, str):
            # YAML reads `1e30` (no dot) as text; say what it is rather than "not a valid integer".
            try:
                value = float(value.strip().replace("_", ""))
            except ValueError:
                raise ValueError(f"{value[:40]!r} is not a number; allowed: {self.describe()}") from None
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{value} is not a finite number; allowed: {self.describe()}")
            if integer:
                if not value.is_integer():
                    raise ValueError(f"{value:g} is not a whole number; allowed: {self.describe()}")
                return int(value)
        return value

    def _after(self, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number; allowed: {self.describe()}")
        if not self.contains(value):
            raise ValueError(f"{_fmt(value)} is out of range; allowed: {self.describe()}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        integer = source is int

        def before(value: Any) -> Any:
            return self._before(value, integer)

        inner = core_schema.no_info_after_validator_function(self._after, handler(source))
        return core_schema.no_info_before_validator_function(before, inner)


def check_number(value: float, rng: Range, what: str) -> float:
    """The same rule for a number that does not come through a pydantic model."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not rng.contains(value):
        shown = value if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)
        raise ValueError(f"{what}: {shown} is not allowed; allowed: {rng.describe()}")
    return value
