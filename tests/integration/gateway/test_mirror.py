"""The shadow mirror on its own, on real sockets: copies after production, backoff from a dead candidate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace

import aiohttp
from tests.faults import free_port
from tests.harness import sim_backend, sim_profile

from slipway.core.records import Api, RequestRecord
from slipway.core.shadow import ShadowPair
from slipway.core.types import BackendKind, Slot
from slipway.gateway.batch_writer import BatchWriter
from slipway.gateway.mirror import REFUSALS_BEFORE_BACKOFF, Mirror, MirrorJob

BODY = {"model": "m", "messages": [{"role": "user", "content": "i want a refund"}]}


def record(i: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"{i:024x}", started_at=0.0, slot="blue", version="v2.1", api="openai.chat",
        stream=False, route_version=1, category="billing", status=200, latency_ms=1.0, output_chars=7,
    )  # fmt: skip


async def mirror_to(
    endpoint: str, n: int, production: Callable[[int], RequestRecord] = record
) -> tuple[Mirror, list[ShadowPair]]:
    pairs: list[ShadowPair] = []

    async def keep(batch: Sequence[ShadowPair]) -> None:
        pairs.extend(batch)

    writer: BatchWriter[ShadowPair] = BatchWriter(keep, what="pairs", flush_interval_s=0.01)
    writer.start()
    candidate = Slot(name="green", endpoint=endpoint, model="m", kind=BackendKind.SIM, version="v2.2")
    async with aiohttp.ClientSession() as session:
        mirror = Mirror(session=lambda: session, pairs=writer, concurrency=1)
        mirror.start()
        for i in range(n):
            job = offer(mirror, candidate, i)
            assert job is not None
            await asyncio.sleep(0.01)
            assert mirror.stats.sent == i, "nothing is sent before production has answered"
            job.finish(production(i), "billing")
        while mirror.stats.sent < n or mirror.in_flight or mirror.queued:
            await asyncio.sleep(0.01)
        while len(pairs) < n - mirror.stats.spoiled:
            await writer.flush()
            await asyncio.sleep(0.01)
        await mirror.close()
    await writer.close()
    return mirror, pairs


async def test_each_copy_is_sent_after_production_answers_and_becomes_a_pair() -> None:
    with sim_backend(sim_profile("cs-v2.2", "v2.2")) as url:
        mirror, pairs = await mirror_to(url, 5)
    assert mirror.stats.sent == 5 and mirror.stats.candidate_errors == 0
    assert [p.candidate.text for p in pairs] == ["billing"] * 5
    assert all(p.production.text == "billing" and p.input_text == "i want a refund" for p in pairs)


async def test_a_candidate_that_refuses_connections_is_backed_off_from_and_every_copy_still_recorded() -> (
    None
):
    mirror, pairs = await mirror_to(f"http://127.0.0.1:{free_port()}", 20)
    assert len(pairs) == 20 and mirror.stats.candidate_errors == 20
    assert mirror.stats.skipped_down >= 1, "no connection tried while backed off"
    assert mirror.stats.skipped_down <= 20 - REFUSALS_BEFORE_BACKOFF
    assert all(p.candidate.status == 0 and (p.candidate.error or "").startswith("unreachable") for p in pairs)
    assert all(p.production.ok for p in pairs), "production's side is untouched"


async def test_a_pair_whose_production_answer_the_gateway_spoiled_is_not_recorded() -> None:
    """The client left, or slipway failed on its own: such a pair would count against the candidate."""
    faults = {1: "client_disconnected", 2: "gateway_error", 3: "gateway_overloaded"}

    def production(i: int) -> RequestRecord:
        error = faults.get(i)
        return replace(record(i), status=500 if error else 200, error=error)

    with sim_backend(sim_profile("cs-v2.2", "v2.2")) as url:
        mirror, pairs = await mirror_to(url, 5, production)
    assert mirror.stats.spoiled == 3 and mirror.stats.candidate_errors == 0
    assert sorted(int(p.pair_id, 16) for p in pairs) == [0, 4]


async def test_a_reload_changes_the_limits_of_a_running_mirror_and_copies_keep_flowing() -> None:
    pairs: list[ShadowPair] = []

    async def keep(batch: Sequence[ShadowPair]) -> None:
        pairs.extend(batch)

    writer: BatchWriter[ShadowPair] = BatchWriter(keep, what="pairs", flush_interval_s=0.01)
    writer.start()
    with sim_backend(sim_profile("cs-v2.2", "v2.2")) as url:
        candidate = Slot(name="green", endpoint=url, model="m", kind=BackendKind.SIM, version="v2.2")
        async with aiohttp.ClientSession() as session:
            mirror = Mirror(session=lambda: session, pairs=writer, concurrency=1, queue=10)
            mirror.start()

            async def copies(start: int, n: int) -> None:
                for i in range(start, start + n):
                    job = offer(mirror, candidate, i)
                    assert job is not None
                    job.finish(record(i), "billing")
                while mirror.queued or mirror.in_flight or writer.pending or len(pairs) < mirror.stats.pairs:
                    await writer.flush()
                    await asyncio.sleep(0.01)

            mirror.configure(concurrency=4, queue=1000, timeout_s=30)
            assert mirror.workers == 4
            await copies(0, 40)
            assert (mirror.stats.dropped, len(pairs)) == (0, 40), "the larger queue applies at once"

            mirror.configure(concurrency=1, queue=1000, timeout_s=30)
            await copies(40, 20)
            assert mirror.workers == 1, "extra senders retire as they finish a copy"
            assert len(pairs) == 60
            await mirror.close()
    await writer.close()


def offer(mirror: Mirror, candidate: Slot, i: int) -> MirrorJob | None:
    """Copy the i-th billing request (a fixed chat body) to the candidate."""
    return mirror.offer(
        run="r1",
        candidate=candidate,
        api=Api.OPENAI_CHAT,
        body=BODY,
        category="billing",
        request_id=f"{i:024x}",
        stream=False,
        started_at=0.0,
    )
