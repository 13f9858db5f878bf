"""The process's state at one moment, as typed values: what `GET /admin/status` and `/metrics` read.

The composition root builds one `Status` per request; the admin API sends
`to_json()` (the shape the CLI and the dashboard read), and `/metrics` reads
the attributes, so a field renamed here is a type error in both rather than a
key that silently goes missing from one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from slipway.core.replicas import Leadership, ReplicaBeat
from slipway.gateway.connections import ConnectionStats
from slipway.gateway.mirror import MirrorStats


@dataclass(frozen=True)
class MirrorRoute:
    slot: str
    sample_pct: float
    run: str | None


@dataclass(frozen=True)
class RouteStatus:
    version: int
    active: str
    previous_active: str | None
    weights_pct: dict[str, float]
    name: str | None
    mirror: MirrorRoute | None


@dataclass(frozen=True)
class SlotStatus:
    name: str
    #: "active" or "standby".
    state: str
    endpoint: str
    kind: str
    model: str
    version: str
    adapter: str | None
    weight_pct: float
    requests_5m: int
    errors_5m: int
    #: Why the slot may fail (its API key's variable is unset); left out of the JSON when None.
    warning: str | None = None
    #: When a standby slot's model was unloaded, by whom and what was released; None while loaded.
    unloaded: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("warning", "unloaded"):
            if data[key] is None:
                del data[key]
        return data


@dataclass(frozen=True)
class ConfigStatus:
    path: str | None
    last_error: str | None
    #: The file was read but its routes deliberately not applied (they differ from the store's), and why.
    not_applied: str | None = None


@dataclass(frozen=True)
class CanarySummary:
    version: str
    status: str
    weight_pct: float
    #: "canary" or "bake" (the watch after a blue-green switch).
    kind: str = "canary"
    #: Categories carrying enough traffic to be required that the last check could not judge.
    uncovered: int = 0


@dataclass(frozen=True)
class ShadowSummary:
    version: str
    status: str
    candidate: str
    sample_pct: float
    mirror: MirrorStats
    #: Copies waiting for the candidate.
    queued: int

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "status": self.status,
            "candidate": self.candidate,
            "sample_pct": self.sample_pct,
            "mirror": {**asdict(self.mirror), "queued": self.queued},
        }


@dataclass(frozen=True)
class DeploymentSummary:
    id: str
    version: str
    status: str


@dataclass(frozen=True)
class ReplicasStatus:
    """The replicas sharing the store as their heartbeats describe them, and the leadership record."""

    #: This replica's id.
    this: str
    #: The epoch this replica leads under, or None.
    leading_epoch: int | None
    leader: Leadership
    live: tuple[ReplicaBeat, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "this": self.this,
            "leader": {
                "id": self.leader.holder,
                "epoch": self.leader.epoch,
                "since": self.leader.since,
                "this_replica": self.leading_epoch is not None,
            },
            "live": [
                {
                    **asdict(beat),
                    "leader": beat.leader_epoch is not None and beat.leader_epoch == self.leader.epoch,
                }
                for beat in self.live
            ],
        }


@dataclass(frozen=True)
class Status:
    route: RouteStatus
    slots: tuple[SlotStatus, ...]
    #: The record writer's own health report (its shape belongs to the gateway's recorder).
    recorder: Mapping[str, Any]
    in_flight: int
    config: ConfigStatus
    #: Where the store is (URL without credentials).
    store: str
    #: Why the store could not be read for this snapshot; the rest is shown anyway.
    store_error: str | None
    #: Per engine, the fleet's own report (url, ready, restarts, rss_mb, ...).
    engines: Mapping[str, Mapping[str, Any]]
    uptime_s: float
    canary: CanarySummary | None
    shadow: ShadowSummary | None
    connections: ConnectionStats
    last_deployment: DeploymentSummary | None
    #: How this replica follows route changes committed by others (notifications, polls, restarts).
    route_feed: Mapping[str, Any]
    #: This replica, every replica seen lately (this one included), and who leads.
    replicas: ReplicasStatus | None = None
    #: The last comparison of the active version's input mix with its reference (None: none yet).
    drift: Mapping[str, Any] | None = None
    #: The latest pre-deployment checklist: its verdict, summary, waivers and items (None: none run).
    checklist: Mapping[str, Any] | None = None
    #: The last rollback drill (its age, result and times) and a drill running now, if any.
    drill: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON `GET /admin/status` has always returned (the CLI and the dashboard read these keys)."""
        return {
            "route": asdict(self.route),
            "slots": [slot.to_json() for slot in self.slots],
            "recorder": dict(self.recorder),
            "in_flight": self.in_flight,
            "config": asdict(self.config),
            "store": self.store,
            "store_error": self.store_error,
            "engines": {name: dict(engine) for name, engine in self.engines.items()},
            "uptime_s": self.uptime_s,
            "canary": asdict(self.canary) if self.canary is not None else None,
            "shadow": self.shadow.to_json() if self.shadow is not None else None,
            "connections": asdict(self.connections),
            "last_deployment": asdict(self.last_deployment) if self.last_deployment is not None else None,
            "route_feed": dict(self.route_feed),
            "replicas": self.replicas.to_json() if self.replicas is not None else None,
            "drift": dict(self.drift) if self.drift is not None else None,
            "checklist": dict(self.checklist) if self.checklist is not None else None,
            "drill": dict(self.drill) if self.drill is not None else None,
        }
