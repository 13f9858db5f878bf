"""What a shadow run keeps: pairs of answers to the same request, and the run's own state.

In shadow mode every production request (or a sampled share) is also sent to
the candidate off the hot path. The user only ever sees production's answer;
the pair is stored so that `analysis.shadow` can compare the two answers to
the *same* input — format, correctness where ground truth exists, preference
— and group the regressions by category, input pattern and output format.

The types are plain values so the gateway (which makes pairs), the store
(which keeps them), analysis (which compares them) and the CLI (which shows
them) agree without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from slipway.core.canary_schedule import parse_duration
from slipway.core.errors import ConfigError
from slipway.core.types import WEIGHT_SCALE

#: Longest answer text kept per side of a pair; longer answers are cut and marked truncated.
MAX_PAIR_TEXT = 32_768
#: Longest input text kept per pair (the user-visible conversation, flattened).
MAX_INPUT_TEXT = 16_384
#: Shadow runs expire after this long (7 days) unless told otherwise.
DEFAULT_EXPIRY_S = 7 * 86_400.0
#: ...and never run longer than this.
MAX_EXPIRY_S = 30 * 86_400.0


@dataclass(frozen=True, slots=True)
class ShadowAnswer:
    """One side of a pair: what a slot answered (or failed to) for the pair's request.

    `status` is the HTTP status the backend gave (0 when it gave none:
    unreachable, timed out, dropped). `text` is the whole answer, a streamed
    one assembled from its chunks, cut at `MAX_PAIR_TEXT` (then `truncated`).
    """

    slot: str
    version: str
    status: int
    latency_ms: float
    text: str = ""
    error: str | None = None
    ttft_ms: float | None = None
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "version": self.version,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "text": self.text,
            "error": self.error,
            "truncated": self.truncated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShadowAnswer:
        return cls(
            slot=str(data["slot"]),
            version=str(data["version"]),
            status=int(data["status"]),
            latency_ms=float(data["latency_ms"]),
            ttft_ms=None if data.get("ttft_ms") is None else float(data["ttft_ms"]),
            text=str(data.get("text") or ""),
            error=data.get("error"),
            truncated=bool(data.get("truncated", False)),
        )


@dataclass(frozen=True, slots=True)
class ShadowPair:
    """Production's and the candidate's answers to one request.

    `pair_id` is the production request's id (`X-Slipway-Request-Id`), so
    feedback posted for that request — a ground-truth `label` — reaches the
    pair: `label` is filled in when pairs are read, not when they are made.
    `input_text` is what the user sent, flattened (chat: the messages'
    contents, one per line, roles dropped); `turns` counts the user messages.
    `request` is the client's request body as sent (for export and replay).
    """

    pair_id: str
    deployment_id: str
    at: float
    api: str
    category: str | None
    input_text: str
    turns: int
    production: ShadowAnswer
    candidate: ShadowAnswer
    stream: bool = False
    request: dict[str, Any] = field(default_factory=dict)
    label: str | None = None


class ShadowStatus(StrEnum):
    """Where a shadow run is. Only RUNNING mirrors traffic."""

    RUNNING = "running"
    #: Collected the pairs it was asked for (`--until N-pairs`); mirroring stopped, the report stands.
    COMPLETE = "complete"
    #: Its time ran out (`--until 7d`, or the expiry); mirroring stopped, the report stands.
    EXPIRED = "expired"
    #: An operator stopped it.
    STOPPED = "stopped"
    #: Its candidate was promoted through blue-green or canary.
    PROMOTED = "promoted"

    def is_final(self) -> bool:
        return self is not ShadowStatus.RUNNING


class PromoteVia(StrEnum):
    CANARY = "canary"
    BLUEGREEN = "bluegreen"


#: The shadow report's verdicts (`analysis.shadow.decision`); only `GO` lets a promotion through unforced.
GO = "go"


@dataclass(frozen=True, slots=True)
class ForcedPromotion:
    """A promotion the shadow report did not allow, made anyway: over which verdict, why, and by whom.

    Kept with the run (and so in the store) because the next person to ask
    "why is this version live?" must find that someone overrode the
    report, and their reason, without reading logs.
    """

    #: The report's verdict at the time ("no-go" or "not yet").
    verdict: str
    #: The report's reasons for it, most important first.
    reasons: tuple[str, ...]
    #: The operator's reason for promoting anyway.
    why: str
    actor: str

    def words(self) -> str:
        """One clause for the run's reason, the route history and the notification."""
        return f"forced over the shadow report's {self.verdict.upper()} by {self.actor}: {self.why}"

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons), "why": self.why, "actor": self.actor}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForcedPromotion:
        return cls(
            verdict=str(data["verdict"]),
            reasons=tuple(str(r) for r in data.get("reasons") or ()),
            why=str(data.get("why") or ""),
            actor=str(data.get("actor") or "slipway"),
        )


@dataclass(frozen=True, slots=True)
class ShadowRun:
    """One shadow deployment: which slot mirrors which, how much, until when, and how it ended."""

    deployment_id: str
    version: str
    production: str
    candidate: str
    sample_bp: int
    started_at: float
    expires_at: float
    status: ShadowStatus = ShadowStatus.RUNNING
    until_pairs: int | None = None
    ended_at: float | None = None
    reason: str = ""
    actor: str = "slipway"
    promoted_via: PromoteVia | None = None
    #: Set when the candidate was promoted over a report that did not say go.
    forced: ForcedPromotion | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "version": self.version,
            "production": self.production,
            "candidate": self.candidate,
            "sample_pct": self.sample_bp * 100 / WEIGHT_SCALE,
            "started_at": self.started_at,
            "expires_at": self.expires_at,
            "status": self.status.value,
            "until_pairs": self.until_pairs,
            "ended_at": self.ended_at,
            "reason": self.reason,
            "actor": self.actor,
            "promoted_via": self.promoted_via.value if self.promoted_via else None,
            "forced": self.forced.to_dict() if self.forced else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShadowRun:
        via = data.get("promoted_via")
        forced = data.get("forced")
        return cls(
            deployment_id=str(data["deployment_id"]),
            version=str(data["version"]),
            production=str(data["production"]),
            candidate=str(data["candidate"]),
            sample_bp=round(float(data["sample_pct"]) * WEIGHT_SCALE / 100),
            started_at=float(data["started_at"]),
            expires_at=float(data["expires_at"]),
            status=ShadowStatus(data["status"]),
            until_pairs=data.get("until_pairs"),
            ended_at=data.get("ended_at"),
            reason=str(data.get("reason") or ""),
            actor=str(data.get("actor") or "slipway"),
            promoted_via=PromoteVia(via) if via else None,
            forced=ForcedPromotion.from_dict(forced) if isinstance(forced, dict) else None,
        )


@dataclass(frozen=True, slots=True)
class ShadowUntil:
    """When a shadow run stops: after N pairs, after a time, or both (whichever comes first)."""

    pairs: int | None
    seconds: float


_PCT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")
_PAIRS = re.compile(r"^\s*(\d+)\s*-?\s*pairs?\s*$", re.IGNORECASE)


def parse_sample(text: str | float) -> int:
    """'100%', '25%', '2.5' → basis points of requests mirrored (> 0, ≤ 100 %)."""
    match = _PCT.match(str(text))
    if match is None:
        raise ConfigError(f"shadow sample {text!r} is not a percentage", hint="write e.g. 100% or 25%")
    bp = round(float(match.group(1)) * WEIGHT_SCALE / 100)
    if not 0 < bp <= WEIGHT_SCALE:
        raise ConfigError(f"shadow sample {text!r} must be above 0 % and at most 100 %", hint="e.g. 25%")
    return bp


def parse_until(text: str, *, expiry_s: float = DEFAULT_EXPIRY_S) -> ShadowUntil:
    """'2000-pairs' | '14d' | '2000-pairs,3d' → when the run stops.

    A duration given is the run's length (at most 30 days); without one the
    run lasts `expiry_s` (the config's `shadow.expiry`, 7 days by default).
    """
    pairs: int | None = None
    seconds: float | None = None
    for part in (p for p in str(text).split(",") if p.strip()):
        found = _PAIRS.match(part)
        if found is not None:
            pairs = int(found.group(1))
            if pairs <= 0:
                raise ConfigError(f"shadow until {text!r}: the number of pairs must be above 0")
            continue
        asked = parse_duration(part, what="shadow until")
        if asked > MAX_EXPIRY_S:
            raise ConfigError(
                f"shadow runs last at most 30 days; {text!r} asks for {asked / 86400:g} days",
                hint="collect fewer pairs, or start a new run after this one",
            )
        seconds = asked if seconds is None else min(seconds, asked)
    return ShadowUntil(pairs=pairs, seconds=expiry_s if seconds is None else seconds)


def parse_expiry(text: str) -> float:
    """The longest a run may last: a duration up to 30 days."""
    seconds = parse_duration(text, what="shadow expiry")
    if seconds > MAX_EXPIRY_S:
        raise ConfigError(f"shadow expiry {text!r} is longer than 30 days", hint="write at most 30d")
    return seconds


@dataclass(frozen=True, slots=True)
class Preference:
    """An LLM judge's view of one pair, both orders combined.

    `score` is +1 when the candidate's answer is preferred in both orders, −1
    when production's is, 0 for a tie or when the two orders disagree (the
    judge followed position, not content), and None when the judge gave no
    usable verdict (`detail` says why).
    """

    score: float | None
    detail: str = ""
