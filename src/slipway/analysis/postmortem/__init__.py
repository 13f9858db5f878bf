"""Post-rollback analysis: pure functions from a rollout's records to the article's answers."""

from slipway.analysis.postmortem.model import (
    Advice,
    Evaluation,
    Facts,
    Postmortem,
    Reference,
    Rollout,
    TimelineEntry,
)
from slipway.analysis.postmortem.report import build_postmortem

__all__ = [
    "Advice",
    "Evaluation",
    "Facts",
    "Postmortem",
    "Reference",
    "Rollout",
    "TimelineEntry",
    "build_postmortem",
]
