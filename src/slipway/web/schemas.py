"""Request and response bodies of the admin API (they are also its OpenAPI docs).

Names and labels use core.names, the same rule as the config file and the
CLI: a slot the API accepts is one `slipway config export` can write and the
file can load, and a version never carries a line break into a header.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from slipway.core.checklist import parse_waivers
from slipway.core.deployments import Strategy
from slipway.core.errors import ValidationError
from slipway.core.names import (
    AdapterLabel,
    EndpointText,
    EnvName,
    Label,
    ModelLabel,
    SlotName,
    Text,
    VersionLabel,
    check_label,
)
from slipway.core.types import BackendKind

FORCE_DESCRIPTION = (
    "Move traffic even if the target slot fails its readiness check; recorded in the route history."
)


def actor_header(x_slipway_actor: Annotated[str, Header()] = "api") -> str:
    """Who acts, for the history: the X-Slipway-Actor header, held to the label rule (one printable line)."""
    try:
        return check_label(x_slipway_actor, "X-Slipway-Actor")
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from None


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: SlotName | None = Field(
        None, description="Slot to send all traffic to; default: the previous active slot."
    )
    reason: Text = Field("manual rollback", description="Why; shown in `slipway history`.")
    force: bool = Field(False, description=FORCE_DESCRIPTION)


class SwitchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: SlotName = Field(description="Slot that takes all traffic.")
    reason: Text = Field("manual switch", description="Why; shown in `slipway history`.")
    force: bool = Field(False, description=FORCE_DESCRIPTION)


class ReloadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = Field(
        False,
        description="Apply the file even if a slot it sends traffic to fails its readiness check; "
        "recorded in the route history.",
    )


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: VersionLabel = Field(description="Version label of what is deployed.")
    strategy: Strategy = Strategy.BLUEGREEN
    slot: SlotName | None = Field(None, description="Standby slot to deploy into; default: the standby.")
    endpoint: EndpointText | None = Field(None, description="Backend endpoint (host:port or URL).")
    model: ModelLabel | None = Field(None, description="Model name at the backend.")
    kind: BackendKind | None = None
    adapter: AdapterLabel | None = None
    upstream_model: ModelLabel | None = None
    api_key_env: EnvName | None = None
    smoke_jsonl: str | None = Field(None, description="Smoke cases, JSONL text (10–20 prompts).")
    smoke_source: Label = Field("smoke.jsonl", description="File name used in error messages.")
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
    owner: Label | None = Field(None, description="The on-call owner of this deployment (checklist).")
    waivers: dict[str, Text] = Field(
        default_factory=dict,
        description="Checklist items accepted failing, each with the reason: {item: reason}; recorded.",
    )

    @field_validator("waivers")
    @classmethod
    def _waivers(cls, value: dict[str, str]) -> dict[str, str]:
        return checked_waivers(value)


def checked_waivers(value: dict[str, str]) -> dict[str, str]:
    """Known items, each with a non-empty reason (the words name the items and the fix)."""
    if not value:
        return {}
    try:
        return parse_waivers(list(value), list(value.values()))
    except ValidationError as exc:
        raise ValueError(str(exc)) from None


class ChecklistBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: VersionLabel = Field(description="Version to check (the version a slot holds).")
    slot: SlotName | None = Field(None, description="Slot holding it; default: the one slot that does.")
    strategy: Strategy = Field(
        Strategy.BLUEGREEN, description="How it would roll out (the canary plan item)."
    )
    steps: str | None = Field(
        None, max_length=500, description="Canary steps to judge; default: `canary:` in the config."
    )
    interval: str | None = Field(
        None, max_length=50, description="Canary check interval; default from the config."
    )
    owner: Label | None = Field(None, description="The on-call owner of the deployment.")
    waivers: dict[str, Text] = Field(
        default_factory=dict, description="Items accepted failing, each with the reason: {item: reason}."
    )
    announce: bool = Field(False, description="Send the deploy.announced notification to every sink first.")
    window: Text | None = Field(None, description="The deployment window, in words, for the announcement.")
    smoke_jsonl: str | None = Field(
        None, max_length=1_000_000, description="Smoke cases (JSONL) the latency replay may use."
    )
    smoke_source: Label = Field("smoke.jsonl", description="File name used in error messages.")

    @field_validator("waivers")
    @classmethod
    def _waivers(cls, value: dict[str, str]) -> dict[str, str]:
        return checked_waivers(value)


class AdapterRollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: AdapterLabel | None = Field(
        None, description="Adapter version (v2.1), file name or path; default: the previous one."
    )
    reason: Text = Field("manual adapter rollback", description="Why; shown in `slipway history`.")
    force: bool = Field(False, description=FORCE_DESCRIPTION)


class CanaryActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(None, description="Why; recorded in the canary's timeline and notifications.")


class AbortBody(CanaryActionBody):
    unload: bool = Field(
        False, description="Also release what slipway started for the candidate (an engine, a vLLM adapter)."
    )


class ShadowStopBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(None, description="Why; shown in the run and its notification.")


class ShadowPromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    via: Literal["canary", "bluegreen"] = Field(description="How the candidate goes to production.")
    steps: str | None = Field(None, description="Canary only: weight steps; default from the config.")
    interval: str | None = Field(None, description="Canary only: time between checks.")
    force: bool = Field(
        False,
        description="Promote even though the shadow report's verdict is no-go or not yet (a go needs no "
        "force); needs a `reason`. Recorded in the run, the route history and the notification.",
    )
    reason: Text | None = Field(
        None, description="Why the report's verdict is overridden; required with `force`."
    )
    owner: Label | None = Field(
        None, description="Blue-green only: the on-call owner of the promotion (the checklist's owner item)."
    )
    waivers: dict[str, Text] = Field(
        default_factory=dict,
        description="Blue-green only: checklist items accepted failing before the switch, each with the "
        "reason: {item: reason}; recorded in the checklist, the deployment and the route history.",
    )

    @field_validator("waivers")
    @classmethod
    def _waivers(cls, value: dict[str, str]) -> dict[str, str]:
        return checked_waivers(value)
