"""What the operator tells `slipway plan` about a deployment, and reading it from flags.

Parsing sits here, apart from the rules, so that a mistake in a flag is a
ConfigError naming the flag's accepted words before any rule runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from slipway.core.canary_schedule import DEFAULT_STEPS
from slipway.core.errors import ConfigError

HIGH_STAKES_DOMAINS = ("medical", "legal", "financial")


class Change(StrEnum):
    """What is different about the version being deployed."""

    ADAPTER_RETRAIN = "adapter-retrain"
    NEW_DATA = "new-data"
    BASE_UPGRADE = "base-upgrade"
    FIRST_FINETUNE = "first-finetune"
    CONFIG_ONLY = "config-only"

    @property
    def meaning(self) -> str:
        return _CHANGE_MEANING[self]


_CHANGE_MEANING = {
    Change.ADAPTER_RETRAIN: "a routine retrain of the adapter on incrementally updated data",
    Change.NEW_DATA: "a major retrain: the training data or method changed significantly",
    Change.BASE_UPGRADE: "a base-model upgrade: the underlying model changed, not just the adapter",
    Change.FIRST_FINETUNE: "the first fine-tune, replacing a prompt-engineered baseline",
    Change.CONFIG_ONLY: "a configuration or prompt change; the weights are the same",
}


class Stakes(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Situation:
    """What `advise` needs; `canary_min_samples` is the per-arm minimum a canary check needs
    (analysis.thresholds' required metrics: 100 by default)."""

    change: Change
    stakes: Stakes = Stakes.MEDIUM
    domain: str | None = None
    traffic_per_day: float | None = None
    version: str = "VERSION"
    stakes_assumed: bool = False
    canary_steps: str = DEFAULT_STEPS
    canary_min_samples: int = 100


def parse_stakes(text: str) -> tuple[Stakes, str | None]:
    """'low' | 'medium' | 'high' | a high-stakes domain ('medical', 'legal', 'financial')."""
    word = text.strip().lower()
    if word in HIGH_STAKES_DOMAINS:
        return Stakes.HIGH, word
    try:
        return Stakes(word), None
    except ValueError:
        known = ", ".join([*(s.value for s in Stakes), *HIGH_STAKES_DOMAINS])
        raise ConfigError(f"unknown stakes {text!r}", hint=f"use one of: {known}") from None


_TRAFFIC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h|hour|d|day))?\s*$", re.IGNORECASE)
_PER = {"s": 86_400, "sec": 86_400, "m": 1_440, "min": 1_440, "h": 24, "hour": 24, "d": 1, "day": 1}


def parse_traffic(text: str) -> float:
    """Production requests per day from '5000', '5000/d', '200/h', '3/s'."""
    match = _TRAFFIC.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(
            f"traffic {text!r} is not a request rate", hint="write requests per day (5000) or 200/h, 3/s"
        )
    return float(match.group(1)) * _PER[(match.group(2) or "d").lower()]
