"""The shape of a recommendation, and its JSON form for `slipway plan --json`.

Kept apart from the rules so the CLI and tests can read a recommendation
without pulling in how it was reached. Every reason and alternative carries
its quote: the JSON names the article's section and sentence, never a line
number, so a reader can find it in the article itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipway.advice.article import ARTICLE, Quote
from slipway.advice.formatting import format_span
from slipway.advice.situation import Situation
from slipway.core.deployments import Strategy


@dataclass(frozen=True, slots=True)
class Reason:
    text: str
    quote: Quote


@dataclass(frozen=True, slots=True)
class Command:
    line: str
    why: str


@dataclass(frozen=True, slots=True)
class Stage:
    """One stretch of the road to full traffic; `seconds` None when it cannot be estimated."""

    what: str
    seconds: float | None
    detail: str
    #: Part of the time until every user is served by the new version (monitoring is not).
    to_full_traffic: bool = True
    #: Said instead of a number when `seconds` is None ("minutes", "needs --traffic").
    unknown: str = "unknown"

    @property
    def span(self) -> str:
        return self.unknown if self.seconds is None else format_span(self.seconds)


@dataclass(frozen=True, slots=True)
class Alternative:
    strategy: Strategy
    why_not: str
    quote: Quote | None = None


@dataclass(frozen=True)
class Advice:
    strategy: Strategy
    situation: Situation
    reasons: tuple[Reason, ...]
    commands: tuple[Command, ...]
    stages: tuple[Stage, ...]
    alternatives: tuple[Alternative, ...]
    notes: tuple[str, ...] = ()

    @property
    def time_to_full_traffic_s(self) -> float | None:
        """Until every user is served by the new version; None when a stage cannot be estimated."""
        total = 0.0
        for stage in self.stages:
            if stage.to_full_traffic:
                if stage.seconds is None:
                    return None
                total += stage.seconds
        return total

    @property
    def time_to_full_traffic(self) -> str:
        """The same for people: '28.6 h', or the stages' own words where a number is unknown."""
        total = self.time_to_full_traffic_s
        if total is not None:
            return format_span(total)
        return " + ".join(s.span for s in self.stages if s.to_full_traffic)

    def to_dict(self) -> dict[str, Any]:
        s = self.situation
        return {
            "strategy": self.strategy.value,
            "change": s.change.value,
            "change_meaning": s.change.meaning,
            "stakes": s.stakes.value,
            "stakes_assumed": s.stakes_assumed,
            "domain": s.domain,
            "traffic_per_day": s.traffic_per_day,
            "version": s.version,
            "article": ARTICLE,
            "reasons": [_quoted(r.text, r.quote) for r in self.reasons],
            "commands": [{"command": c.line, "why": c.why} for c in self.commands],
            "stages": [
                {
                    "stage": stage.what,
                    "seconds": stage.seconds,
                    "time": stage.span,
                    "detail": stage.detail,
                    "to_full_traffic": stage.to_full_traffic,
                }
                for stage in self.stages
            ],
            "time_to_full_traffic_s": self.time_to_full_traffic_s,
            "time_to_full_traffic": self.time_to_full_traffic,
            "alternatives": [
                {"strategy": a.strategy.value, **_quoted(a.why_not, a.quote, key="why_not")}
                for a in self.alternatives
            ],
            "notes": list(self.notes),
        }


def _quoted(text: str, quote: Quote | None, key: str = "text") -> dict[str, Any]:
    return {
        key: text,
        "section": quote.section if quote else None,
        "quote": quote.text if quote else None,
    }
