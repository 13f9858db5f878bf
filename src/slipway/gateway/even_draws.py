"""Draws for the weighted split that fill [0, 1) evenly instead of at random.

With coin flips, a 10 % canary that should see 120 of 1,200 requests sees
fewer than 100 about one time in forty, and its checks then lack the samples
the canary plan promised. An additive recurrence by the golden ratio (a
Kronecker sequence, the most evenly spread one-dimensional sequence known)
gives every weight its share of any run of requests to within a request or
two, whatever the order: each slot's count is then the plan's arithmetic,
not a draw from it. The sequence never repeats with a short period, so a
client whose requests alternate (billing, shipping, billing, …) still sends
every slot the same mix. Integer arithmetic on 53 bits keeps it exact.

Which slot served a request is no secret (the response says so), so the
sequence being predictable gives a client nothing it does not already have;
each process starts at a random point, so replicas do not move in step.
"""

from __future__ import annotations

import random

_BITS = 53
_MOD = 1 << _BITS
_SCALE = 1.0 / _MOD
#: The fractional part of the golden ratio, on 53 bits, made odd so the rotation visits every point.
GOLDEN_STEP = int(0.6180339887498949 * _MOD) | 1
#: The fractional part of √2: a second sequence that does not move in step with the first.
SILVER_STEP = int(0.4142135623730951 * _MOD) | 1


class EvenDraws:
    """A callable returning the next draw in [0, 1); each call moves one step along the rotation."""

    __slots__ = ("_step", "_x")

    def __init__(self, step: int = GOLDEN_STEP, start: float | None = None) -> None:
        first = random.random() if start is None else start
        if not 0.0 <= first < 1.0:
            raise ValueError(f"a draw sequence starts in [0, 1), not at {first}")
        self._step = step
        self._x = int(first * _MOD)

    def __call__(self) -> float:
        self._x = (self._x + self._step) % _MOD
        return self._x * _SCALE
