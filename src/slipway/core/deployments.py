"""A deployment: one attempt to move a version into production, whatever the strategy."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Strategy(StrEnum):
    BLUEGREEN = "bluegreen"
    CANARY = "canary"
    SHADOW = "shadow"


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    SMOKE_TESTING = "smoke_testing"
    SMOKE_FAILED = "smoke_failed"
    #: Refused by a failed required item of its pre-deployment checklist; no traffic moved.
    CHECKLIST_FAILED = "checklist_failed"
    #: Passed and staged in its slot with --no-switch; goes live on `slipway switch SLOT`.
    STAGED = "staged"
    #: Serving a share of traffic under a canary ramp; goes live when promoted.
    CANARY = "canary"
    #: Staged and receiving a copy of production traffic; users never see its answers.
    SHADOW = "shadow"
    LIVE = "live"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    def is_checking(self) -> bool:
        """Its candidate is being checked (health, smoke test, checklist): nothing is switched yet."""
        return self in (DeploymentStatus.PENDING, DeploymentStatus.SMOKE_TESTING)

    def is_terminal(self) -> bool:
        return self in (
            DeploymentStatus.SMOKE_FAILED,
            DeploymentStatus.CHECKLIST_FAILED,
            DeploymentStatus.ROLLED_BACK,
            DeploymentStatus.FAILED,
        )


@dataclass(slots=True)
class Deployment:
    id: str
    version: str
    strategy: Strategy
    slot: str
    status: DeploymentStatus
    created_at: float
    updated_at: float
    actor: str
    previous_slot: str | None = None
    detail: dict[str, object] = field(default_factory=dict)
