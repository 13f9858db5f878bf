"""Ports: the narrow interfaces the pure layers need from the outside world.

Adapters (store, backends, notify) implement them; the composition root (`slipway.app`) wires them. The
gateway and the control loop only ever see these Protocols.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from slipway.core.canary import CanaryEvent, CanaryRecord, CanaryVerdict, JudgeRequest
from slipway.core.deployments import Deployment
from slipway.core.lifecycle import EvalRunRecord, RequestInput
from slipway.core.notifications import Notification
from slipway.core.records import Feedback, RequestRecord
from slipway.core.shadow import Preference, ShadowPair, ShadowRun
from slipway.core.tokens import Tokenized
from slipway.core.types import RouteChange, RouteTable, Slot, SlotHealth


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (injectable so tests can compress hours)."""
        ...

    @property
    def scale(self) -> float:
        """How many clock seconds pass per real second (1 for real time; more in drills and demos).

        Warnings that reason about request rates, which arrive in real time,
        divide by it.
        """
        ...

    async def sleep(self, seconds: float) -> None: ...


class RouteStore(Protocol):
    async def load_routes(self) -> RouteTable | None:
        """The last committed route table, or None on a fresh store."""
        ...

    async def commit_routes(
        self, table: RouteTable, *, expected_version: int, change: RouteChange
    ) -> RouteTable:
        """Atomically replace the route table if its version is still `expected_version`.

        Raises ConflictError when another writer committed first. The returned
        table carries the new version (expected_version + 1).
        """
        ...

    async def route_history(self, limit: int = 100) -> list[RouteChange]: ...

    async def route_version(self) -> int:
        """The committed route version (0 on a fresh store): one cheap read."""
        ...


class RouteChanges(Protocol):
    async def follow(
        self, on_version: Callable[[int], Awaitable[None]], on_rollouts: Callable[[], None]
    ) -> None:
        """Call `on_version` with the store's route version each time it may have changed, and
        `on_rollouts` when a canary or shadow run was saved (by any replica).

        Runs until cancelled. Versions may repeat or arrive late; the caller
        takes only what is newer than what it serves.
        """
        ...


class RoutePublisher(Protocol):
    def publish(self, table: RouteTable) -> None:
        """Make `table` the one new requests see in this process."""
        ...


class RecordStore(Protocol):
    async def write_records(
        self,
        records: Sequence[RequestRecord],
        *,
        checkpoint: tuple[str, str] | None = None,
        inputs: Sequence[RequestInput] = (),
    ) -> None:
        """Insert the records and what they asked (ids already stored are skipped); with
        `checkpoint`, also set that meta (key, value); all in one transaction.

        Raises StoreUnavailable when the database cannot be reached (the same
        write may succeed later) and StoreRefusedData when it refused a value.
        """
        ...

    async def ping(self, timeout: float = ...) -> None:
        """Return once the database answers; raise StoreUnavailable if it does not within `timeout` s."""
        ...

    async def add_feedback(self, feedback: Feedback) -> bool:
        """Attach feedback; False when no request with that id exists."""
        ...


class MetaStore(Protocol):
    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...


class KeptStore(Protocol):
    """Meta keys a replica keeps up to date while it runs, taken by another once it is gone (each once)."""

    async def set_meta(self, key: str, value: str) -> None: ...

    async def delete_meta(self, key: str) -> None: ...

    async def take_meta_of_silent(self, prefix: str, *, alive_since: float, mine: str) -> dict[str, str]:
        """Remove and return the `<prefix><replica id>` keys of replicas with no heartbeat since then."""
        ...


class DeploymentStore(Protocol):
    async def save_deployment(self, deployment: Deployment) -> None:
        """Insert or update (by id) a deployment and its current status."""
        ...

    async def list_deployments(self, limit: int = 50) -> list[Deployment]: ...

    async def get_deployment(self, deployment_id: str) -> Deployment | None: ...


class SlotBackend(Protocol):
    """Talks to a slot's inference server outside the hot path: readiness and smoke prompts."""

    async def check(self, slot: Slot) -> SlotHealth:
        """Is the server up, and does it serve the slot's model? Never raises for a down server."""
        ...

    async def complete(self, slot: Slot, request: dict[str, Any]) -> str:
        """Run one OpenAI-style chat request (non-streaming) and return the answer text.

        Raises BackendError (or a subclass) when the server fails.
        """
        ...


@runtime_checkable
class SlotTokenizer(Protocol):
    """Optional beside SlotBackend: the engine's own tokenizer, for the out-of-vocabulary rate of inputs.

    Only engines that expose their tokenizer have it (llama.cpp's
    `/tokenize`, vLLM's `/tokenize`); drift reports the dimension as not
    judged for the others.
    """

    async def tokenize(self, slot: Slot, text: str) -> Tokenized:
        """`text` (at most core.tokens.MAX_TOKENIZE_CHARS) as the slot's engine splits it, without
        special tokens. Raises BackendError when the engine fails or answers in another shape."""
        ...


class SlotProvisioner(Protocol):
    """Brings up what a deploy names before it is checked: e.g. an engine for an adapter not loaded yet."""

    async def provision(self, slot: Slot) -> Slot:
        """The slot as it will be served (its endpoint may change); raises SlipwayError if impossible."""
        ...

    async def discard(self, slot: Slot, table: RouteTable) -> None:
        """Undo `provision` for a candidate that did not go live, unless `table` still routes to it."""
        ...


class CanaryStore(Protocol):
    """Canary state (one row per canary, optimistic by revision) and its timeline."""

    async def save_canary(self, record: CanaryRecord, *, expected_revision: int) -> CanaryRecord:
        """Insert (expected_revision 0) or update the canary if its revision is still `expected_revision`.

        Raises ConflictError when another writer saved first; the returned
        record carries the new revision (expected_revision + 1).
        """
        ...

    async def latest_canary(self) -> CanaryRecord | None:
        """The most recently started canary, whatever its status."""
        ...

    async def add_canary_event(self, event: CanaryEvent) -> None: ...

    async def canary_events(self, deployment_id: str, limit: int = 100) -> list[CanaryEvent]:
        """Newest first."""
        ...


class CanaryJudge(Protocol):
    """Compares a canary's candidate with its baseline (analysis.decide behind an adapter)."""

    async def evaluate(self, request: JudgeRequest) -> CanaryVerdict:
        """A verdict with its metric table; raises SlipwayError when the data cannot be read."""
        ...

    def min_samples(self) -> int:
        """The per-arm sample a check needs before it can give any verdict."""
        ...


class Notifier(Protocol):
    def notify(self, notification: Notification) -> None:
        """Queue a notification; never blocks on the network and never raises."""
        ...


class PreferenceJudge(Protocol):
    """Asks a model which of two answers to the same request is better."""

    async def prefer(self, request_text: str, production: str, candidate: str) -> Preference:
        """Both orders are asked; a judge that cannot answer returns `Preference(None, why)`."""
        ...


class PairStore(Protocol):
    """Where the gateway's mirror writes its pairs, in batches off the hot path."""

    async def write_pairs(self, pairs: Sequence[ShadowPair]) -> None: ...


class ShadowStore(Protocol):
    """Shadow runs and their pairs, for the controller, the status and the report."""

    async def save_shadow(self, run: ShadowRun, now: float) -> None: ...

    async def latest_shadow(self) -> ShadowRun | None: ...

    async def get_shadow(self, deployment_id: str) -> ShadowRun | None: ...

    async def read_pairs(self, deployment_id: str, limit: int | None = None) -> list[ShadowPair]:
        """Oldest first, each with the latest feedback label of its production request."""
        ...

    async def pair_counts(self, deployment_id: str) -> dict[str | None, int]: ...


class SlotReleaser(Protocol):
    """Frees, and brings back, the memory a standby slot's model holds on its server (its files stay)."""

    async def release(self, slot: Slot, others: RouteTable) -> str:
        """Unload `slot`'s model; what was released, in words. `others` is the table without `slot`.

        Raises TransitionError when nothing slipway can reach holds it (a server slipway did not start).
        """
        ...

    async def load(self, slot: Slot) -> str:
        """Load `slot`'s model again; what was loaded, in words."""
        ...


class Evaluations(Protocol):
    """Runs every stored evaluation suite against a slot (slipway.app.evaluations.EvalRunner)."""

    async def run_all(
        self, *, slot: str, against: str | None, actor: str, deployment_id: str | None = None
    ) -> list[EvalRunRecord]:
        """Every suite's latest version against `slot`, paired against `against`; [] without suites."""
        ...
