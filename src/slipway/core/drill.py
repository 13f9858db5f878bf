"""A rollback drill's values and the ports it runs through.

A drill rehearses a rollback for real: its own requests, pinned by a secret
token, are moved to the standby slot and back on every replica, and the time
each replica takes to follow is measured. Users' requests are never routed
differently. These are the shapes the drill runner, its adapters and the
store share; the runner is `rollout/drill.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from slipway.core.lifecycle import DrillRecord

#: Drill requests each replica must get answered on the new side before the drill moves on.
DEFAULT_DRILL_REQUESTS = 20
MAX_DRILL_REQUESTS = 200


@dataclass(frozen=True, slots=True)
class DrillTarget:
    """One replica's gateway as the drill reaches it: its id (for the report) and its base URL."""

    replica: str
    url: str


@dataclass(frozen=True, slots=True)
class DrillAnswer:
    """What one drill request got back from a replica's gateway."""

    #: HTTP status, 0 when the gateway could not be reached at all.
    status: int
    #: The slot that answered (`X-Slipway-Slot`), None when the gateway did not say.
    slot: str | None
    #: Whether the gateway routed it by the drill's pin (`X-Slipway-Drill: pinned`); if not, the
    #: replica treated it as a user's request.
    pinned: bool
    #: A short description of a failure (status and the start of the error body, or the network error).
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.pinned

    @property
    def routed_as_users(self) -> bool:
        """A gateway routed it (it names a slot) but not by the pin: it was taken for a user's request."""
        return self.slot is not None and not self.pinned


class DrillTraffic(Protocol):
    """Sends one drill request to a replica's gateway (the data plane, as a client would)."""

    async def ask(self, target: DrillTarget, token: str, model: str) -> DrillAnswer: ...

    async def close(self) -> None: ...


class DrillReplicas(Protocol):
    """The live replicas to drill on, and the route version each of them serves."""

    async def targets(self) -> list[DrillTarget]: ...

    async def route_versions(self) -> Mapping[str, int]:
        """Route version served, by replica id (this replica's own is read from memory)."""
        ...


class DrillBook(Protocol):
    """Where drills are kept (the store's `drills` table)."""

    async def add_drill(self, record: DrillRecord) -> None: ...

    async def list_drills(self, limit: int = 50) -> list[DrillRecord]: ...


def drill_to_dict(record: DrillRecord) -> dict[str, Any]:
    """A stored drill as the API shows it."""
    return {
        "id": record.id,
        "at": record.at,
        "actor": record.actor,
        "slot": record.slot,
        "passed": record.passed,
        "result": dict(record.result),
    }
