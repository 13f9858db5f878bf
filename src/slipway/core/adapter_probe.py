"""Which model names share a candidate's engine, so the smoke test can send them all at once.

A backend that knows (vLLM lists adapters with their `parent`; a
llama-server selects its loaded adapters per request) answers with one
`ProbeName` per name: the candidate slot with only the model or adapter
changed, so a probe request travels exactly the path a user's would. A
backend that cannot tell says why, and the probe is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from slipway.core.types import Slot


@dataclass(frozen=True, slots=True)
class ProbeName:
    """One name the engine serves, as a slot that sends requests to it."""

    name: str
    slot: Slot
    candidate: bool = False
    base: bool = False
    #: Where its weights were loaded from, when known: two names from one source answer alike by design.
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeTargets:
    names: tuple[ProbeName, ...] = ()
    #: Why there is nothing to probe (one name only, or a backend that cannot tell); None: probe `names`.
    skipped: str | None = None
    #: The engine's own way to run one request at a time, quoted in the fix for cross-talk.
    one_at_a_time: str = "one request at a time"


@runtime_checkable
class ProbeTargetSource(Protocol):
    """A backend that can list the model names sharing a slot's engine."""

    async def probe_targets(self, slot: Slot) -> ProbeTargets:
        """The names (candidate first), or a skip reason; raises BackendError when it cannot ask."""
        ...
