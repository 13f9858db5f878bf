"""The `shadow:` section of the routing config: how much to mirror, how to judge the pairs, when to stop.

Flags given to `slipway deploy --strategy shadow` win over these defaults.
The comparison settings (`checks`, `scorers`, `judge`, `decision`) are read by
`analysis.shadow` each time a report is made, so editing them and reloading
re-judges the pairs already collected: pairs are kept raw, never pre-scored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slipway.core.errors import ConfigError
from slipway.core.names import EnvName, ModelLabel, check_endpoint_text
from slipway.core.numbers import Range
from slipway.core.shadow import parse_expiry, parse_sample, parse_until

#: Scorers `analysis.shadow` knows; `judge` also needs the `judge:` block.
SCORERS = ("exact", "normalized", "token_f1", "similarity", "judge")


class MirrorConfig(BaseModel):
    """How the gateway sends the copies: bounded, with its own timeout, never in the user's way."""

    model_config = ConfigDict(extra="forbid")

    concurrency: Annotated[int, Range(1, 4096)] = Field(32, description="Mirror requests in flight at once.")
    queue: Annotated[int, Range(1, 1_000_000)] = Field(
        1_000, description="Mirror requests waiting; beyond it they are dropped and counted."
    )
    timeout_s: Annotated[float, Range(0, 86_400, low_open=True, unit="seconds")] = Field(
        120.0, description="Longest wait for the candidate's whole answer."
    )


class ShadowChecksConfig(BaseModel):
    """Format checks applied to both answers of every pair ("format compliance")."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    is_json: bool = Field(False, alias="json", description="The answer must be a JSON document.")
    json_schema: dict[str, Any] | None = Field(None, description="The answer must be JSON valid against it.")
    regex: str | None = Field(None, description="The answer must match this regular expression (search).")
    deny_regex: str | None = Field(None, description="The answer must not match this regular expression.")
    labels: list[str] | None = Field(None, description="The answer's label must be one of these.")
    min_chars: Annotated[int, Range(0, 10_000_000, unit="characters")] | None = Field(
        1, description="Shortest acceptable answer (1: not empty)."
    )
    max_chars: Annotated[int, Range(1, 10_000_000, unit="characters")] | None = Field(
        None, description="Longest acceptable answer."
    )
    refusal: bool = Field(True, description="An answer that refuses the task fails the format check.")

    @field_validator("regex", "deny_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
        return value


class JudgeConfig(BaseModel):
    """An LLM that prefers one of two answers (asked in both orders, to cancel position bias)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(description="OpenAI-compatible server, e.g. http://127.0.0.1:8000.")
    model: ModelLabel = Field(description="Model name sent to it.")
    api_key_env: EnvName | None = Field(None, description="Environment variable holding its API key.")
    rubric: str = Field(
        "Which answer serves the user better: correct, complete, in the requested format, and safe?",
        description="What the judge is asked to weigh.",
    )
    max_pairs: Annotated[int, Range(1, 100_000)] = Field(
        200, description="Pairs judged per report (a stratified sample)."
    )
    timeout_s: Annotated[float, Range(0, 3600, low_open=True, unit="seconds")] = Field(
        60.0, description="Longest wait for one judgement."
    )
    concurrency: Annotated[int, Range(1, 64)] = Field(4, description="Judgements in flight at once.")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        check_endpoint_text(value, "judge endpoint")
        parts = urlsplit(value if "://" in value else f"http://{value}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"judge endpoint {value!r} is not an http(s) URL")
        return value if "://" in value else f"http://{value}"


class ShadowDecisionConfig(BaseModel):
    """The go / no-go rule a report states and applies."""

    model_config = ConfigDict(extra="forbid")

    min_pairs: Annotated[int, Range(1, 10_000_000)] = Field(
        1_000, description="No go before this many pairs (typically 1,000–5,000)."
    )
    min_effect: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = Field(
        0.05, description="Smallest drop that matters (5 points of a pass rate)."
    )
    confidence: Annotated[float, Range(0.5, 1, low_open=True, high_open=True)] = Field(
        0.95, description="Confidence of intervals and decisions."
    )
    min_pairs_per_group: Annotated[int, Range(1, 1_000_000)] = Field(
        30, description="Groups smaller than this are reported, not judged."
    )


class ShadowConfig(BaseModel):
    """Defaults for `slipway deploy --strategy shadow` and the comparison of its pairs."""

    model_config = ConfigDict(extra="forbid")

    sample: str = Field("100%", description="Share of production requests mirrored.")
    until: str = Field("7d", description="When mirroring stops: N-pairs, a duration, or both (first wins).")
    expiry: str = Field("7d", description="Longest a run lasts (at most 30d).")
    mirror: MirrorConfig = Field(default_factory=MirrorConfig)
    checks: ShadowChecksConfig = Field(default_factory=ShadowChecksConfig)
    scorers: list[str] = Field(
        default_factory=lambda: ["normalized", "token_f1"], description="Preference scorers, in order."
    )
    judge: JudgeConfig | None = Field(None, description="LLM judge for the `judge` scorer.")
    decision: ShadowDecisionConfig = Field(default_factory=ShadowDecisionConfig)

    @field_validator("sample", mode="before")
    @classmethod
    def _sample(cls, value: object) -> str:
        try:
            parse_sample(str(value))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return str(value)

    @field_validator("until")
    @classmethod
    def _until(cls, value: str) -> str:
        try:
            parse_until(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("expiry")
    @classmethod
    def _expiry(cls, value: str) -> str:
        try:
            parse_expiry(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("scorers")
    @classmethod
    def _scorers(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in SCORERS:
                raise ValueError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}")
        return value
