"""Domain types shared by every layer: slots, the route table, route changes.

They are frozen values: the gateway swaps a whole `RouteTable` atomically, so a
request that picked a slot keeps that exact slot for its whole life even if
the table changes under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

#: Weights are expressed in basis points so that 0.05 % steps stay integers.
WEIGHT_SCALE = 10_000


class BackendKind(StrEnum):
    """Which protocol a slot's inference server speaks."""

    OPENAI = "openai"
    OLLAMA = "ollama"
    LLAMACPP = "llamacpp"
    VLLM = "vllm"
    SIM = "sim"

    def speaks_openai(self) -> bool:
        return self is not BackendKind.OLLAMA


@dataclass(frozen=True, slots=True)
class Slot:
    """A named place a model version is loaded and reachable.

    `model` is the version label users see (`X-Slipway-Version`); `upstream_model`
    is the name sent to the backend in the request body when it differs.
    """

    name: str
    endpoint: str
    model: str
    kind: BackendKind = BackendKind.OPENAI
    upstream_model: str | None = None
    adapter: str | None = None
    api_key_env: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    version: str | None = None

    @property
    def backend_model(self) -> str:
        return self.upstream_model or self.model

    @property
    def version_label(self) -> str:
        if self.version:
            return self.version
        return f"{self.model}+{self.adapter}" if self.adapter else self.model

    def with_changes(self, **changes: object) -> Slot:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DrillPin:
    """A rollback drill's pinned route: requests carrying this id go to `slot`, all others as usual.

    The id is a random token only the drill that made it knows, so a client
    cannot use the pin to pick a slot: a request with any other value is
    routed like any user's.
    """

    id: str
    slot: str
    #: Who runs the drill, and when it started (wall clock): a pin left by a drill that died says so.
    actor: str = ""
    started_at: float = 0.0


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Where traffic goes right now.

    With no weights, every request goes to `active`. With weights (a canary),
    each slot gets `weight / WEIGHT_SCALE` of the traffic; weights sum to
    WEIGHT_SCALE. `version` increases by one on every committed change and is
    what optimistic concurrency compares.
    """

    version: int
    slots: Mapping[str, Slot]
    active: str
    weights: Mapping[str, int] = field(default_factory=dict)
    previous_active: str | None = None
    #: The model family this gateway serves (public model id), if configured.
    name: str | None = None
    #: Shadow mode: the slot every routed request is also sent to (its answer is never served).
    mirror: str | None = None
    #: ...for this share of requests, in basis points.
    mirror_bp: int = 0
    #: ...on behalf of this shadow run (deployment id): every pair made is filed under it.
    mirror_run: str | None = None
    #: A rollback drill in progress: its token and the slot its requests are pinned to.
    drill: DrillPin | None = None

    def slot(self, name: str) -> Slot:
        return self.slots[name]

    @property
    def active_slot(self) -> Slot:
        return self.slots[self.active]

    def standby_slots(self) -> list[str]:
        return [name for name in self.slots if name != self.active]

    def effective_weights(self) -> dict[str, int]:
        """Weights in basis points, including the implicit 100 % on the active slot."""
        if self.weights:
            return {name: w for name, w in self.weights.items() if w > 0}
        return {self.active: WEIGHT_SCALE}


class RouteChangeKind(StrEnum):
    CONFIG = "config"
    DEPLOY = "deploy"
    SWITCH = "switch"
    ROLLBACK = "rollback"
    WEIGHTS = "weights"
    SLOT = "slot"
    INIT = "init"
    #: A canary moved its candidate's weight (start, next phase, back to 0 %).
    CANARY = "canary"
    #: A canary finished its ramp: the candidate became the active slot.
    PROMOTE = "promote"
    #: Shadow mode started or stopped copying traffic to a slot.
    SHADOW = "shadow"
    #: A rollback drill pinned its own requests to a slot, or cleared the pin (users' routes unchanged).
    DRILL = "drill"


@dataclass(frozen=True, slots=True)
class RouteChange:
    """One entry of `slipway history`: who moved traffic where, and why."""

    version: int
    at: float
    kind: RouteChangeKind
    from_active: str | None
    to_active: str
    actor: str
    reason: str
    from_weights: Mapping[str, int] = field(default_factory=dict)
    to_weights: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SlotHealth:
    """What a backend says about a slot before traffic moves to it."""

    reachable: bool
    model_available: bool
    detail: str
    models: tuple[str, ...] = ()
    #: Resident memory the backend reports for this slot's model (the cost of keeping it loaded), if any.
    memory_bytes: int | None = None

    @property
    def ready(self) -> bool:
        return self.reachable and self.model_available
