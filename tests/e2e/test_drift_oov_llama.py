"""The out-of-vocabulary rate end to end: slipway serving the tiny model on llama.cpp, clients, status.

The tiny model's vocabulary is its tickets' words and their letters: a word
with a character it lacks ("Überweisung") is tokenized into raw bytes. The
leader measures the rate through the engine's own `/tokenize`, on samples of
the version's first requests and of the latest ones. The loops' clock is
moved by the test; the decision is the real comparison.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path

import openai
import pytest
from tests.clock import ManualClock
from tests.e2e.test_drift_stories import drift_after_a_check
from tests.harness import live_gateway, tiny_engine_yaml
from tests.processes import run_cli

from slipway.demo.tickets import generate
from slipway.demo.tiny_model import TinyModelPaths

pytestmark = pytest.mark.llama

DRIFT = "drift: {interval: 1m, window: 300, reference: 600, oov_sample: 300}\n"
#: Words the tiny model's vocabulary cannot spell: "Ü" and "ü" fall back to bytes.
FOREIGN = " Überweisung fünf"


def tickets(n: int, foreign_every: int, seed: str) -> list[tuple[str, str]]:
    """(prompt, intent) of `n` of the model's own tickets, every `foreign_every`-th with foreign words."""
    return [
        (t.prompt + (FOREIGN if i % foreign_every == 0 else ""), t.intent)
        for i, t in enumerate(generate(n, seed))
    ]


async def send(url: str, batch: Sequence[tuple[str, str]]) -> None:
    gate = asyncio.Semaphore(4)
    async with openai.AsyncOpenAI(
        base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30
    ) as client:

        async def one(prompt: str, intent: str) -> None:
            async with gate:
                await client.completions.create(
                    model="customer-support",
                    prompt=prompt,
                    max_tokens=4,
                    temperature=0,
                    extra_headers={"X-Slipway-Category": intent},
                )

        await asyncio.gather(*(one(p, i) for p, i in batch))


async def test_traffic_moving_to_words_outside_the_vocabulary_is_flagged_on_that_dimension(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    clock = ManualClock()
    with live_gateway(tmp_path, tiny_engine_yaml(models, extra=DRIFT), clock=clock) as gw:
        # v2.1's first 600 requests, then 300 alike: one ticket in ten has the foreign words.
        await send(gw.url, tickets(600, foreign_every=10, seed="reference"))
        await send(gw.url, tickets(300, foreign_every=10, seed="alike"))
        steady = drift_after_a_check(gw, clock, "steady", timeout=120)
        (oov,) = [d for d in steady["dimensions"] if d["dimension"] == "oov"]
        assert oov["judged"] and not oov["drifted"], oov
        assert (oov["reference_n"], oov["live_n"]) == (300, 300)

        # Then one in two: the same kind of tickets, more words the model cannot read.
        await send(gw.url, tickets(300, foreign_every=2, seed="shifted"))
        drifted = drift_after_a_check(gw, clock, "drifted", confirmed=True, timeout=120)
        assert "oov" in drifted["confirmed"], drifted["dimensions"]
        (oov,) = [d for d in drifted["dimensions"] if d["dimension"] == "oov"]
        rose = re.search(r"inputs with 5–20% unknown tokens rose from (\d+)% to 50%", oov["words"])
        assert rose is not None and 7 <= int(rose.group(1)) <= 13, oov["words"]
        shown = run_cli(gw.url, ["status"], env={"COLUMNS": "250"})
        assert "oov: drifted: inputs with 5–20% unknown tokens rose" in shown.stdout, shown.stdout
