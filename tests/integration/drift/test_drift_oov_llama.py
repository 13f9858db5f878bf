"""The out-of-vocabulary rate on the real llama-server with the tiny model, through the drift watch.

The tiny model's vocabulary is its tickets' words and their letters, so a
word with a character it lacks ("Überweisung") is read as raw bytes. The
records are written to a real SQLite store as the recorder writes them, and
each comparison is one `check` call, tokenizing through llama-server's own
`/tokenize`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from tests.clock import ManualClock
from tests.integration.drift.test_drift_watch import Routes, Told, Traffic, store

from slipway.app.drift_watch import DriftWatch
from slipway.backends.engine import LlamaServerProcess, find_llama_server, install_llama_server
from slipway.backends.factory import SlotBackends
from slipway.core.drift_config import DriftConfig
from slipway.core.types import BackendKind, RouteTable, Slot
from slipway.demo.tickets import generate
from slipway.demo.tiny_model import build_tiny_models
from slipway.store import Store

pytestmark = pytest.mark.llama

__all__ = ["store"]  # the fixture, used by name

CONFIG = DriftConfig(window=300, reference=600, oov_sample=300)
#: Words the tiny model's vocabulary cannot spell: "ü" and "Ü" fall back to bytes.
FOREIGN = " Überweisung fünf"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServerProcess]:
    models = build_tiny_models(tmp_path_factory.mktemp("models"), seed=0)
    proc = LlamaServerProcess(
        models.base,
        list(models.adapters),
        binary=find_llama_server() or install_llama_server(),
        log_path=tmp_path_factory.mktemp("logs") / "engine.log",
    )
    asyncio.run(proc.start())
    try:
        yield proc
    finally:
        asyncio.run(proc.stop())


def served_by(server: LlamaServerProcess) -> Routes:
    slot = Slot(name="blue", endpoint=server.base_url, model="v2.1", kind=BackendKind.LLAMACPP)
    return Routes(RouteTable(version=1, slots={"blue": slot}, active="blue"))


def tickets(n: int, foreign_every: int, seed: str) -> list[str]:
    """`n` of the model's own tickets, every `foreign_every`-th with the foreign words added."""
    return [t.prompt + (FOREIGN if i % foreign_every == 0 else "") for i, t in enumerate(generate(n, seed))]


async def send(traffic: Traffic, texts: list[str]) -> None:
    await traffic.send(["billing", "shipping"] * (len(texts) // 2), texts=texts)


async def test_the_engine_counts_the_bytes_of_words_it_does_not_know(
    server: LlamaServerProcess, backends: SlotBackends
) -> None:
    slot = served_by(server).table.active_slot
    tokenizer = backends.tokenizer(slot)
    assert tokenizer is not None
    known = await tokenizer.tokenize(slot, "my invoice is wrong")
    assert (known.tokens, known.unknown) == (4, 0)
    # "Ü" and "ü" are two bytes each in UTF-8: four byte pieces, the other letters pieces of their own.
    foreign = await tokenizer.tokenize(slot, "my invoice" + FOREIGN)
    assert foreign.unknown == 4 and foreign.tokens > 4, foreign


async def test_a_mix_shifting_to_words_outside_the_vocabulary_is_flagged_on_this_dimension(
    store: Store, server: LlamaServerProcess, backends: SlotBackends
) -> None:
    told, traffic = Told(), Traffic(store)
    drift = DriftWatch(
        store=store,
        routes=served_by(server),
        notifier=told,
        config=lambda: CONFIG,
        clock=ManualClock(),
        tokenizer=backends.tokenizer,
    )
    # The reference and then as many more alike: one ticket in ten has the foreign words.
    await send(traffic, tickets(600, foreign_every=10, seed="reference"))
    await send(traffic, tickets(300, foreign_every=10, seed="alike"))
    steady = await drift.check(CONFIG)
    (oov,) = [d for d in steady["dimensions"] if d["dimension"] == "oov"]
    assert oov["judged"] and not oov["drifted"], oov
    assert (oov["reference_n"], oov["live_n"]) == (300, 300)
    assert steady["state"] == "steady", steady["dimensions"]

    # Then one ticket in two: the same categories, lengths and script, more words the model cannot read.
    await send(traffic, tickets(300, foreign_every=2, seed="shifted"))
    first = await drift.check(CONFIG)
    assert (first["state"], first["confirmed"]) == ("drifted", [])
    second = await drift.check(CONFIG)
    assert second["confirmed"] == ["oov"], second["dimensions"]
    (note,) = told.notes
    # About one in ten of the reference's sample had the foreign words; half of the latest window does.
    rose = re.search(r"oov: drifted: inputs with 5–20% unknown tokens rose from (\d+)% to 50%", note.title)
    assert rose is not None and 7 <= int(rose.group(1)) <= 13, note.title
