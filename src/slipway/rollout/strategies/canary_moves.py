"""What goes into the canary's state machine (events) and what comes out of it (effects).

Events are checks and operator commands; effects are what the controller
carries out afterwards (route changes, timeline entries, notifications,
deployment rows, unloads). Plain values, no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from slipway.core.canary import CanaryEvent, CanaryVerdict
from slipway.core.deployments import DeploymentStatus
from slipway.core.notifications import Notification
from slipway.core.types import RouteChangeKind
from slipway.rollout.strategies.canary_words import SYSTEM

# -- events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """A scheduled check and its verdict."""

    verdict: CanaryVerdict


@dataclass(frozen=True, slots=True)
class GuardTick:
    """A guard check between the scheduled ones and its verdict: only a rollback counts, and at once.

    Any other verdict changes nothing; advancing, holding and promoting stay
    with the scheduled checks. Sound because every test is anytime-valid.
    """

    verdict: CanaryVerdict


@dataclass(frozen=True, slots=True)
class Pause:
    actor: str
    reason: str = "paused by an operator"


@dataclass(frozen=True, slots=True)
class Resume:
    actor: str
    reason: str = "resumed by an operator"


@dataclass(frozen=True, slots=True)
class Promote:
    actor: str
    reason: str = "promoted by an operator"


@dataclass(frozen=True, slots=True)
class Abort:
    actor: str
    reason: str = "aborted by an operator"
    unload: bool = False


@dataclass(frozen=True, slots=True)
class Rollback:
    actor: str
    reason: str = "rolled back by an operator"


@dataclass(frozen=True, slots=True)
class RoutesChanged:
    """The route table is at `version` and the canary did not make it so."""

    version: int
    active: str
    candidate_bp: int
    description: str


Event = Tick | GuardTick | Pause | Resume | Promote | Abort | Rollback | RoutesChanged


# -- effects ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApplyRoute:
    """Make the route table match `desired_route(state)`; recorded in history as `kind`."""

    kind: RouteChangeKind
    reason: str
    actor: str = SYSTEM


@dataclass(frozen=True, slots=True)
class Notify:
    notification: Notification


@dataclass(frozen=True, slots=True)
class Record:
    event: CanaryEvent


@dataclass(frozen=True, slots=True)
class Finish:
    """Move the deployment row to `status`."""

    status: DeploymentStatus
    reason: str


@dataclass(frozen=True, slots=True)
class Unload:
    slot: str


Effect = ApplyRoute | Notify | Record | Finish | Unload
