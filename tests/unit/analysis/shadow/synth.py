"""Synthetic shadow pairs with known behaviour, for the report's tests.

Each pair's request gets a category and input pattern drawn independently
(so no feature is confounded with a category), production answers with the
category's label or a JSON object, and the candidate fails on purpose where a
test says so: `fail(category, has_code) -> probability the candidate fails`.
Everything else behaves identically on both sides: the same pass probability,
drawn independently per side (identical behaviour, not identical answers).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from slipway.core.shadow import ShadowAnswer, ShadowPair

CATEGORIES = ("billing", "shipping", "account", "technical")
WEIGHTS = (0.3, 0.3, 0.2, 0.2)
CODE = "Why does this fail?\n```python\ndef total(xs):\n    return sum(xs)\n```"
PROSE = "Where is the refund for my last order, please?"
LONG = "I wrote to you before about this. " * 40
CYRILLIC = "Где мой заказ? Пожалуйста, помогите."


def answer(
    slot: str,
    text: str,
    *,
    status: int = 200,
    error: str | None = None,
    truncated: bool = False,
    latency_ms: float = 100.0,
) -> ShadowAnswer:
    return ShadowAnswer(
        slot=slot,
        version=slot,
        status=status,
        latency_ms=latency_ms,
        text=text,
        error=error,
        truncated=truncated,
    )


def pair(
    pair_id: str,
    production: str,
    candidate: str,
    *,
    category: str | None = "billing",
    input_text: str = PROSE,
    label: str | None = None,
    turns: int = 1,
    candidate_status: int = 200,
    candidate_error: str | None = None,
) -> ShadowPair:
    return ShadowPair(
        pair_id=pair_id,
        deployment_id="d1",
        at=0.0,
        api="chat",
        category=category,
        input_text=input_text,
        turns=turns,
        production=answer("blue", production),
        candidate=answer("green", candidate, status=candidate_status, error=candidate_error),
        label=label,
    )


def _bad(rng: random.Random, good: str) -> str:
    return (
        rng.choice(["I'm sorry, but I can't help with that.", "", "wrong"])
        if good.startswith("{")
        else "wrong"
    )


def make_pairs(
    n: int,
    seed: int,
    fail: Callable[[str, bool], float] = lambda category, code: 0.0,
    *,
    base_fail: float = 0.08,
) -> list[ShadowPair]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        category = rng.choices(CATEGORIES, WEIGHTS)[0]
        has_code = rng.random() < 0.2
        text = CODE if has_code else rng.choice([PROSE, LONG, CYRILLIC, "Order 4411 is late"])
        as_json = rng.random() < 0.3
        good = json.dumps({"label": category}) if as_json else category
        labelled = rng.random() < 0.5
        production = _bad(rng, good) if rng.random() < base_fail else good
        p_fail = base_fail + (1 - base_fail) * fail(category, has_code)
        candidate = _bad(rng, good) if rng.random() < p_fail else good
        out.append(
            pair(
                f"p{i}",
                production,
                candidate,
                category=category,
                input_text=text,
                label=category if labelled else None,
                turns=rng.choice([1, 1, 2, 5]),
            )
        )
    return out
