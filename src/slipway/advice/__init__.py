"""`slipway plan`'s advice: which strategy fits a deployment, why, and how long it takes.

Not a rollout strategy and not part of the control plane: nothing that runs a
deployment reads it. It only reads the rollout's pure timing (how long a
canary phase must last, the monitoring windows) so that what it promises is
what a deploy will do. Pure: no I/O; the CLI reads the registry and feeds it.
"""

from slipway.advice.article import ARTICLE, QUOTES, Quote
from slipway.advice.detection import Detection, VersionFacts, detect_change
from slipway.advice.formatting import format_span
from slipway.advice.recommendation import Advice, Alternative, Command, Reason, Stage
from slipway.advice.rules import advise
from slipway.advice.situation import (
    HIGH_STAKES_DOMAINS,
    Change,
    Situation,
    Stakes,
    parse_stakes,
    parse_traffic,
)

__all__ = [
    "ARTICLE",
    "HIGH_STAKES_DOMAINS",
    "QUOTES",
    "Advice",
    "Alternative",
    "Change",
    "Command",
    "Detection",
    "Quote",
    "Reason",
    "Situation",
    "Stage",
    "Stakes",
    "VersionFacts",
    "advise",
    "detect_change",
    "format_span",
    "parse_stakes",
    "parse_traffic",
]
