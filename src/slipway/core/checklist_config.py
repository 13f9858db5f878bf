"""The `checklist:` section: which items refuse a deploy, and the bounds items are judged by.

The default required set is what an existing deployment already satisfies
unless something is truly wrong (a bad model file, a rollback target that does
not answer, a failure a rollback already taught: regression cases are only
there once someone added them, and hold nothing back before): an upgrade does not start
refusing deploys that worked yesterday, and every other failed item is printed
with its fix on every deploy, so the operator learns what to add and then
makes it required (`required: all`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slipway.core.canary_schedule import parse_duration
from slipway.core.checklist import ITEMS
from slipway.core.errors import ConfigError
from slipway.core.names import Label
from slipway.core.numbers import Range

DEFAULT_REQUIRED: tuple[str, ...] = ("regression", "model_file", "previous_version")


class ChecklistConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_deploy: bool = Field(True, description="Run the checklist before every deploy moves traffic.")
    required: list[str] | str = Field(
        list(DEFAULT_REQUIRED),
        description="Items whose failure refuses a deploy (the rest are shown with their fix): a list of "
        f"{', '.join(ITEMS)}, or `all`.",
    )
    owner: Label | None = Field(
        None, description="The on-call owner named for every deployment (--owner wins)."
    )
    drill_max_age: str = Field("30d", description="The newest passing rollback drill may be this old.")
    alert_test_max_age: str = Field(
        "7d", description="The newest delivered `slipway notify test` event may be this old."
    )
    latency_p50_max: Annotated[float, Range(1, 100, unit="times production")] = Field(
        1.5, description="Largest candidate/production ratio of the median latency in the paired replay."
    )
    latency_p95_max: Annotated[float, Range(1, 100, unit="times production")] = Field(
        1.5, description="Largest candidate/production ratio of the p95 latency in the paired replay."
    )
    latency_slack_ms: Annotated[float, Range(0, 10_000, unit="milliseconds")] = Field(
        25.0,
        description="A quantile slower than production's by no more than this passes whatever its ratio.",
    )
    latency_requests: Annotated[int, Range(4, 200)] = Field(
        20, description="Requests replayed to both slots (recent production requests, else the smoke cases)."
    )
    latency_budget_s: Annotated[float, Range(1, 60, unit="seconds")] = Field(
        6.0, description="Longest the replay may take; the pairs answered by then are judged."
    )

    @field_validator("required")
    @classmethod
    def _required(cls, value: list[str] | str) -> list[str] | str:
        names = list(ITEMS) if value == "all" else [value] if isinstance(value, str) else value
        unknown = [n for n in names if n not in ITEMS]
        if unknown:
            raise ValueError(
                f"checklist.required names unknown items {', '.join(repr(n[:40]) for n in unknown)}; "
                f"the items are: {', '.join(ITEMS)} (or `all`)"
            )
        return value

    @field_validator("drill_max_age", "alert_test_max_age")
    @classmethod
    def _age(cls, value: str) -> str:
        try:
            parse_duration(value, what="checklist age")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    def required_items(self) -> tuple[str, ...]:
        if self.required == "all":
            return ITEMS
        names = [self.required] if isinstance(self.required, str) else self.required
        return tuple(n for n in ITEMS if n in names)

    def drill_max_age_s(self) -> float:
        return parse_duration(self.drill_max_age)

    def alert_test_max_age_s(self) -> float:
        return parse_duration(self.alert_test_max_age)
