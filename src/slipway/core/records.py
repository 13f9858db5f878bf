"""What the gateway remembers about each request, and late feedback on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from slipway.core.lifecycle import RequestInput

#: Errors that say nothing about the slot a request was meant for: the client went away, or the
#: gateway failed on its own (out of sockets or connections, or a fault in slipway). They are
#: recorded, so nothing answered goes unseen, but no canary, shadow or bake judgment counts them
#: against a slot: a gateway under attack must not roll back a healthy candidate.
NOT_THE_SLOTS_FAULT: tuple[str, ...] = ("client_disconnected", "gateway_overloaded", "gateway_error")


class Api(StrEnum):
    """The client-facing API a request came in on."""

    OPENAI_CHAT = "openai.chat"
    OPENAI_COMPLETIONS = "openai.completions"
    OLLAMA_CHAT = "ollama.chat"
    OLLAMA_GENERATE = "ollama.generate"


@dataclass(slots=True)
class RequestRecord:
    """One attributed request. Mutable while the request runs, frozen by convention once queued."""

    request_id: str
    started_at: float
    slot: str
    version: str
    api: str
    stream: bool
    route_version: int
    category: str | None = None
    sticky_key: str | None = None
    status: int = 0
    error: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    output_chars: int = 0
    output_tokens: int | None = None
    #: The first characters of the answer: enough to score a label against ground truth.
    output_head: str = ""
    #: Why the stream ended early, if it did (client gone, backend died).
    aborted: bool = False
    #: The client chose the slot (X-Slipway-Slot) instead of the route table: kept, never judged.
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class Feedback:
    """Late feedback and ground truth for one request."""

    request_id: str
    at: float
    satisfied: bool | None = None
    label: str | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class InputMix:
    """Requests counted per value of each input dimension ({"category": {"billing": 200, ...}})."""

    counts: Mapping[str, Mapping[str, int]]
    requests: int
    #: When the first and the last of them started (wall-clock seconds); None without requests.
    first_at: float | None
    last_at: float | None


@dataclass(frozen=True, slots=True)
class InputWindow:
    """A slot's requests in a window, as input drift reads them: every request's category, and the
    inputs the gateway kept of them (none for requests recorded with `gateway.record_inputs` off)."""

    #: Requests per category (UNCATEGORIZED for none), over every request of the window.
    categories: Mapping[str, int]
    #: What the requests asked, for those with a stored input (`request` is not read: None).
    inputs: Sequence[RequestInput]
    requests: int
    first_at: float | None
    last_at: float | None
