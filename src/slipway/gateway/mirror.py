"""Shadow mode's mirror: the same request to the candidate, off the hot path, never in the user's way.

The request path calls `Mirror.offer` when it picks a slot — O(1): a small
job object — and `MirrorJob.finish` once its own answer has gone out, which
puts the job on a bounded queue without waiting. Workers (bounded
concurrency) then send the copy to the candidate with its own timeout,
assemble a streamed answer from its chunks, and hand the pair to a batch
writer. A full queue drops the copy and counts it; a slow, failing or dead
candidate costs the user nothing and is recorded in the pair.

The copy is sent after production has answered, not alongside it: measured
side by side (docs/benchmarks.md, shadow mirror), sending at once put the
copy's CPU work — a connection, a request, a parse, on the same event loop —
inside the user's request and added ~0.2 ms at p50 and up to 1 ms at p99;
sent afterwards it adds nothing measurable. The candidate's latency is still
its own (timed from when its copy is sent), but the two models no longer
answer at the same instant. A candidate that refuses connections is backed
off from (its copies are recorded as refused without a connection attempt)
until it listens again, so a dead candidate costs no more than a live one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from slipway.core.errors import BackendError, NotFoundError, ValidationError
from slipway.core.records import NOT_THE_SLOTS_FAULT, Api, RequestRecord
from slipway.core.shadow import MAX_PAIR_TEXT, ShadowAnswer, ShadowPair
from slipway.core.types import Slot
from slipway.gateway.batch_writer import BatchWriter
from slipway.gateway.connections import own_exhaustion
from slipway.gateway.errors import upstream_error_message
from slipway.gateway.exchanges import exchange_for
from slipway.gateway.inputs import input_of, stored_request
from slipway.gateway.output import OutputTracker, extract_output
from slipway.gateway.upstream import ResolveEngine, engine_target, upstream_request

log = logging.getLogger("slipway.mirror")

#: A request body larger than this is stored as a stub in the pair (the input text is still kept).
MAX_STORED_REQUEST = 64 * 1024
#: After this many refused connections in a row the candidate is taken for down...
REFUSALS_BEFORE_BACKOFF = 3
#: ...and no connection is tried for this long, doubling while it stays down, up to the maximum.
BACKOFF_S = 0.5
MAX_BACKOFF_S = 15.0


@dataclass(slots=True)
class MirrorStats:
    offered: int = 0
    #: Copies not sent because the queue was full (or the mirror was closing).
    dropped: int = 0
    sent: int = 0
    #: Copies the candidate failed: unreachable, timed out, an error status, a broken stream.
    candidate_errors: int = 0
    pairs: int = 0
    #: Copies recorded as refused without trying, while the candidate was backed off from.
    skipped_down: int = 0
    #: Pairs not recorded because the gateway, not either model, spoiled them: production's answer
    #: was cut by its client or by slipway itself, or slipway could not send the copy (closing,
    #: out of sockets). They would tell nothing about the candidate.
    spoiled: int = 0


class MirrorJob:
    """One copy in flight. The request path holds it only to call `finish`."""

    __slots__ = (
        "_mirror",
        "api",
        "body",
        "candidate",
        "category",
        "production",
        "request_id",
        "run",
        "started_at",
        "stream",
    )

    def __init__(
        self,
        mirror: Mirror,
        *,
        run: str,
        candidate: Slot,
        api: Api,
        body: dict[str, Any],
        category: str | None,
        request_id: str,
        stream: bool,
        started_at: float,
    ) -> None:
        self.run = run
        self.candidate = candidate
        self.api = api
        self.body = body
        self.category = category
        self.request_id = request_id
        self.stream = stream
        self.started_at = started_at
        self.production: ShadowAnswer | None = None
        self._mirror = mirror

    def finish(self, rec: RequestRecord, text: str) -> None:
        """Production has answered: queue the copy (from the request's `finally`; O(1), never raises)."""
        if self.production is not None:
            return
        self.production = ShadowAnswer(
            slot=rec.slot,
            version=rec.version,
            status=rec.status,
            latency_ms=rec.latency_ms,
            ttft_ms=rec.ttft_ms,
            text=text[:MAX_PAIR_TEXT],
            error=rec.error,
            truncated=len(text) > MAX_PAIR_TEXT or rec.output_chars > len(text),
        )
        self._mirror.enqueue(self)


class Mirror:
    def __init__(
        self,
        *,
        session: Callable[[], aiohttp.ClientSession | None],
        pairs: BatchWriter[ShadowPair],
        resolve_engine: ResolveEngine | None = None,
        concurrency: int = 32,
        queue: int = 1_000,
        timeout_s: float = 120.0,
    ) -> None:
        self._session = session
        self._pairs = pairs
        self._resolve_engine = resolve_engine
        self._concurrency = concurrency
        #: Unbounded as a container; `_max_queue` bounds it, so a reload can change the bound at once.
        self._queue: asyncio.Queue[MirrorJob] = asyncio.Queue()
        self._max_queue = queue
        self._timeout_s = timeout_s
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False
        self.in_flight = 0
        self.stats = MirrorStats()
        #: Refused connections in a row, and until when (loop time) no connection is tried.
        self._refusals = 0
        self._backoff = BACKOFF_S
        self._down_until = 0.0

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def workers(self) -> int:
        return len(self._workers)

    def configure(self, *, concurrency: int, queue: int, timeout_s: float) -> None:
        """New limits from a reloaded config, at once: more senders start now, extra ones retire
        as they finish a copy, and the queue bound applies to the next copy."""
        self._timeout_s = timeout_s
        self._max_queue = queue
        self._concurrency = concurrency
        if self._workers and not self._closing:
            self._grow()

    def start(self) -> None:
        if not self._workers:
            self._closing = False
            self._grow()

    def _grow(self) -> None:
        while len(self._workers) < self._concurrency:
            self._workers.append(
                asyncio.create_task(self._work(), name=f"slipway-mirror-{len(self._workers)}")
            )

    async def close(self) -> None:
        """Stop taking copies; cancel the ones in flight (the user has their answers; these were extra)."""
        self._closing = True
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    def offer(
        self,
        *,
        run: str,
        candidate: Slot,
        api: Api,
        body: dict[str, Any],
        category: str | None,
        request_id: str,
        stream: bool,
        started_at: float,
    ) -> MirrorJob | None:
        """A copy of this request for the candidate, sent once `finish` is called; None when closing."""
        self.stats.offered += 1
        if self._closing or not self._workers:
            self.stats.dropped += 1
            return None
        return MirrorJob(
            self,
            run=run,
            candidate=candidate,
            api=api,
            body=body,
            category=category,
            request_id=request_id,
            stream=stream,
            started_at=started_at,
        )

    def enqueue(self, job: MirrorJob) -> None:
        if self._closing or self._queue.qsize() >= self._max_queue:
            self.stats.dropped += 1
            return
        self._queue.put_nowait(job)

    async def _work(self) -> None:
        me = asyncio.current_task()
        while True:
            if len(self._workers) > self._concurrency and me in self._workers:
                self._workers.remove(me)  # a reload lowered the concurrency: this sender retires
                return
            job = await self._queue.get()
            self.in_flight += 1
            try:
                await self._mirror(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must never stop the worker, nor reach a user
                log.exception("mirror: copy of request %s failed unexpectedly", job.request_id)
            finally:
                self.in_flight -= 1

    async def _mirror(self, job: MirrorJob) -> None:
        production = job.production
        assert production is not None, "queued before production answered"
        self.stats.sent += 1
        candidate = await self._ask_candidate(job)
        if production.error in NOT_THE_SLOTS_FAULT or candidate.error in NOT_THE_SLOTS_FAULT:
            self.stats.spoiled += 1
            return
        if not candidate.ok:
            self.stats.candidate_errors += 1
        text, turns = input_of(job.api, job.body)
        self._pairs.record(
            ShadowPair(
                pair_id=job.request_id,
                deployment_id=job.run,
                at=job.started_at,
                api=job.api.value,
                category=job.category,
                input_text=text,
                turns=turns,
                production=production,
                candidate=candidate,
                stream=job.stream,
                request=stored_request(job.body, MAX_STORED_REQUEST)
                or {"model": job.body.get("model"), "truncated": True},
            )
        )
        self.stats.pairs += 1

    async def _ask_candidate(self, job: MirrorJob) -> ShadowAnswer:
        slot = job.candidate
        t0 = time.perf_counter()

        def failed(status: int, error: str, text: str = "", ttft: float | None = None) -> ShadowAnswer:
            return ShadowAnswer(
                slot=slot.name,
                version=slot.version_label,
                status=status,
                latency_ms=(time.perf_counter() - t0) * 1000.0,
                ttft_ms=ttft,
                text=text[:MAX_PAIR_TEXT],
                error=error,
            )

        session = self._session()
        if session is None:
            return failed(0, "gateway_error")
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            self.stats.skipped_down += 1
            return failed(0, f"unreachable: refused the last {self._refusals} connections; not retried yet")
        try:
            slot, extras = await engine_target(slot, self._resolve_engine, shadow=True)
        except (BackendError, NotFoundError) as exc:
            return failed(0, f"engine_unavailable: {exc.message}")
        try:
            upstream = upstream_request(
                exchange_for(job.api, slot.kind),
                slot,
                job.body,
                job.stream,
                extras,
                request_id=job.request_id,
                category=job.category,
                shadow=True,
            )
        except ValidationError as exc:
            return failed(0, f"untranslatable: {exc.message}")
        exchange = upstream.exchange
        tracker: OutputTracker | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                async with session.post(
                    upstream.url, data=upstream.payload, headers=upstream.headers
                ) as resp:
                    self._refusals, self._backoff = 0, BACKOFF_S  # it answers: not down
                    if resp.status >= 400:
                        body = await resp.read()
                        detail = upstream_error_message(body, 200) if body.strip() else ""
                        return failed(resp.status, f"upstream_{resp.status}: {detail}".rstrip(": "))
                    if job.stream and resp.content_type in ("text/event-stream", "application/x-ndjson"):
                        tracker = OutputTracker(
                            exchange.upstream_api, exchange.upstream_framing, t0, keep=MAX_PAIR_TEXT
                        )
                        async for chunk in resp.content.iter_any():
                            tracker.feed(chunk)
                        if tracker.error is not None:
                            return failed(
                                resp.status, f"stream_error: {tracker.error}", tracker.text, tracker.ttft_ms
                            )
                        if tracker.malformed is not None:
                            return failed(resp.status, "bad_upstream_stream", tracker.text, tracker.ttft_ms)
                        if not tracker.complete:
                            return failed(resp.status, "stream_interrupted", tracker.text, tracker.ttft_ms)
                        text, ttft = tracker.text, tracker.ttft_ms
                    else:
                        data = await resp.read()
                        ttft = (time.perf_counter() - t0) * 1000.0
                        try:
                            obj = orjson.loads(data)
                        except orjson.JSONDecodeError:
                            obj = None
                        if not isinstance(obj, dict):
                            return failed(resp.status, "bad_upstream_body")
                        text = extract_output(exchange.upstream_api.value, obj)
                    return ShadowAnswer(
                        slot=slot.name,
                        version=slot.version_label,
                        status=resp.status,
                        latency_ms=(time.perf_counter() - t0) * 1000.0,
                        ttft_ms=ttft,
                        text=text[:MAX_PAIR_TEXT],
                        truncated=len(text) > MAX_PAIR_TEXT,
                    )
        except TimeoutError:
            partial = tracker.text if tracker is not None else ""
            return failed(0, f"timeout: no whole answer within {self._timeout_s:g}s", partial)
        except aiohttp.ClientConnectorError as exc:
            if own_exhaustion(exc) is not None:
                return failed(0, "gateway_overloaded")
            self._refusals += 1
            if self._refusals >= REFUSALS_BEFORE_BACKOFF:
                self._down_until = loop.time() + self._backoff
                self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
            return failed(0, f"unreachable: {exc.__class__.__name__}: {exc}".rstrip(": "))
        except (aiohttp.ClientError, OSError) as exc:
            if own_exhaustion(exc) is not None:
                return failed(0, "gateway_overloaded")
            return failed(0, f"unreachable: {exc.__class__.__name__}: {exc}".rstrip(": "))
