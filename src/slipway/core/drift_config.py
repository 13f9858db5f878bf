"""The `drift:` section: how often the live input mix is compared with the active version's reference."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slipway.core.canary_schedule import parse_duration
from slipway.core.errors import ConfigError
from slipway.core.numbers import Range

#: As many inputs as a dimension needs to be judged: a smaller suite is too small a reference,
#: and fewer tokenized inputs than this cannot judge the out-of-vocabulary rate.
EVALUATION_MIN_CASES = 200


class DriftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Compare the live input mix with the active version's reference.")
    interval: str = Field("15m", description="How often the leader compares (a duration).")
    window: Annotated[int, Range(100, 100_000)] = Field(
        1000, description="The live window: the active slot's latest this many requests."
    )
    reference: Annotated[int, Range(100, 1_000_000)] = Field(
        5000,
        description="The reference: the first this many requests a version served once it took all traffic "
        "(kept in the store per version; nothing is judged until they exist).",
    )
    reference_from: Literal["auto", "evaluation", "traffic"] = Field(
        "auto",
        description="Where a version's reference comes from: `evaluation` (the cases of the suite it was "
        "last evaluated on), `traffic` (its first `reference` requests), or `auto` (the evaluation when that "
        f"suite has at least {EVALUATION_MIN_CASES} cases, else the traffic).",
    )
    oov_sample: Annotated[int, Range(0, 5000)] = Field(
        1000,
        description="Inputs of each side (the reference and the live window) the leader has the active "
        "slot's engine tokenize per comparison, for the out-of-vocabulary rate; 0: not measured.",
    )
    alpha: Annotated[float, Range(0, 0.5, low_open=True)] = Field(
        0.01, description="The chance of an alarm on an unchanged mix, per comparison, over all dimensions."
    )
    min_points: Annotated[float, Range(0, 100, low_open=True, unit="points")] = Field(
        5.0, description="The smallest move of one value's share, in percentage points, worth an alarm."
    )

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        try:
            seconds = parse_duration(value, what="drift.interval")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if seconds < 60:
            raise ValueError(f"drift.interval {value!r} is under a minute; compare at most once a minute")
        return value

    @field_validator("oov_sample")
    @classmethod
    def _oov_sample(cls, value: int) -> int:
        if 0 < value < EVALUATION_MIN_CASES:
            raise ValueError(
                f"drift.oov_sample {value} is too few to judge (a dimension needs {EVALUATION_MIN_CASES} "
                f"inputs a side); use 0 to not measure it, or at least {EVALUATION_MIN_CASES}"
            )
        return value

    def interval_s(self) -> float:
        return parse_duration(self.interval, what="drift.interval")
