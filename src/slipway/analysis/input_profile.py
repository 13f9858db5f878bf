"""A window of requests as input drift compares it: counts per value of every input dimension.

The dimensions are the shadow report's (`analysis.shadow.features`): one
definition, so "long (>1000 chars)" means the same in a shadow report, a
postmortem and a drift alarm. Category is counted over every request; the
others over the requests whose input the gateway kept, so a request recorded
without one (`gateway.record_inputs: false`, or before inputs were kept)
counts for category only. Each value also has words for people
("long inputs (>1000 chars)"), because alarms quote them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from slipway.analysis.shadow.features import INPUT_DIMENSIONS, Asked
from slipway.core.records import InputWindow

#: The dimension counted over every request; the others need a stored input.
CATEGORY = "category"
#: Every dimension drift compares, in the order status shows them.
DIMENSIONS: tuple[str, ...] = (CATEGORY, *(d.name for d in INPUT_DIMENSIONS))

#: The engine tokenizer's dimension: requests per out-of-vocabulary rate (measured, not read from text).
OOV = "oov"
#: Its values, by the share of an input's tokens that are unknown or raw bytes.
OOV_BINS: tuple[str, ...] = ("none", "under 5%", "5–20%", "over 20%")

#: How a yes/no dimension's "yes" reads in a sentence ("inputs with code rose from 5% to 21%").
_WITH = {"code": "code", "json": "JSON", "numbers": "numbers"}


def profile(window: InputWindow) -> dict[str, dict[str, int]]:
    """Requests per value of each dimension: category over all of them, the rest over stored inputs."""
    counts: dict[str, dict[str, int]] = {CATEGORY: dict(window.categories)}
    counts.update(input_counts(window.inputs))
    return counts


def input_counts(inputs: Iterable[Asked]) -> dict[str, dict[str, int]]:
    """Per input dimension, how many of `inputs` have each value (every dimension present, maybe empty)."""
    counters: dict[str, Counter[str]] = {d.name: Counter() for d in INPUT_DIMENSIONS}
    for item in inputs:
        for d in INPUT_DIMENSIONS:
            counters[d.name][d.of(item)] += 1
    return {name: dict(counter) for name, counter in counters.items()}


def oov_bin(rate: float) -> str:
    """An input's out-of-vocabulary rate as one of OOV_BINS."""
    if rate <= 0:
        return OOV_BINS[0]
    if rate < 0.05:
        return OOV_BINS[1]
    return OOV_BINS[2] if rate <= 0.2 else OOV_BINS[3]


def oov_counts(rates: Iterable[float]) -> dict[str, int]:
    """Inputs per OOV_BINS value (every bin present, maybe 0)."""
    counts = dict.fromkeys(OOV_BINS, 0)
    for rate in rates:
        counts[oov_bin(rate)] += 1
    return counts


def value_words(dimension: str, value: str) -> str:
    """A dimension's value as the subject of a sentence: "long inputs (>1000 chars)", "inputs with code"."""
    if dimension == "length":
        size, _, bound = value.partition(" ")
        return f"{size} inputs {bound}".rstrip()
    if dimension in _WITH:
        return f"inputs {'with' if value == 'yes' else 'without'} {_WITH[dimension]}"
    if dimension == "script":
        return (
            "inputs in another script, or with no letters"
            if value == "other"
            else f"inputs in {value} script"
        )
    if dimension == OOV:
        if value == OOV_BINS[0]:
            return "inputs with no unknown tokens"
        return f"inputs with {value} unknown tokens"
    if dimension == "turns":
        return f"conversations of {value}"
    return value
