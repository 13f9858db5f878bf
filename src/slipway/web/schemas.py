"""Request and response bodies of the admin API (they are also its OpenAPI docs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slipway.core.deployments import Strategy
from slipway.core.types import BackendKind


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(
        None, description="Slot to send all traffic to; default: the previous active slot."
    )
    reason: str = Field("manual rollback", description="Why; shown in `slipway history`.")


class SwitchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="Slot that takes all traffic.")
    reason: str = Field("manual switch", description="Why; shown in `slipway history`.")


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, description="Version label of what is deployed.")
    strategy: Strategy = Strategy.BLUEGREEN
    slot: str | None = Field(None, description="Standby slot to deploy into; default: the standby.")
    endpoint: str | None = Field(None, description="Backend endpoint (host:port or URL).")
    model: str | None = Field(None, description="Model name at the backend.")
    kind: BackendKind | None = None
    adapter: str | None = None
    upstream_model: str | None = None
    api_key_env: str | None = None
    smoke_jsonl: str | None = Field(None, description="Smoke cases, JSONL text (10–20 prompts).")
    smoke_source: str = Field("smoke.jsonl", description="File name used in error messages.")
    no_smoke: bool = Field(False, description="Skip the smoke test on purpose.")
    switch: bool = Field(True, description="Switch traffic after a passing smoke test.")
    steps: str | None = Field(
        None,
        description="Canary only: weight steps, e.g. 5%:2h,25%:4h,100%; default: `canary:` in the config.",
    )
    interval: str | None = Field(
        None, description="Canary only: time between checks, e.g. 15m; default from the config."
    )
    sample: str | None = Field(
        None,
        description="Shadow only: share of requests mirrored, e.g. 100% or 25%; default from the config.",
    )
    until: str | None = Field(
        None,
        description="Shadow only: when mirroring stops: 2000-pairs, 7d, or both; default from the config.",
    )


class AdapterRollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(
        None, description="Adapter version (v2.1), file name or path; default: the previous one."
    )
    reason: str = Field("manual adapter rollback", description="Why; shown in `slipway history`.")


class CanaryActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, description="Why; recorded in the canary's timeline and notifications.")


class AbortBody(CanaryActionBody):
    unload: bool = Field(
        False, description="Also release what slipway started for the candidate (an engine, a vLLM adapter)."
    )


class ShadowStopBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, description="Why; shown in the run and its notification.")


class ShadowPromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    via: Literal["canary", "bluegreen"] = Field(description="How the candidate goes to production.")
    steps: str | None = Field(None, description="Canary only: weight steps; default from the config.")
    interval: str | None = Field(None, description="Canary only: time between checks.")
