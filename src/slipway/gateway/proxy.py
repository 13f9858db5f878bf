"""Forward one request to the slot's backend and stream the answer back: the request path.

`Proxy.handle` is the path: read the body, validate it, route it to a slot,
offer a copy to a shadow run, call the backend, relay its answer, record.
The slot is chosen once, from the compiled routes read at the start of the
request; a route switch during a long stream does not move it. Upstream
failures become well-formed errors in the client's own API, and every request
ends in exactly one record for the recorder.

Beside it: `calls` (what one request carries from routing on), `relay` (the
answer, relayed), `backend_failures` (what the client is told when the
backend fails it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import aiohttp

from slipway.core.errors import BackendError, NotFoundError, ValidationError
from slipway.core.lifecycle import RequestInput
from slipway.core.lora import EngineInfo
from slipway.core.records import Api
from slipway.core.types import WEIGHT_SCALE, RouteTable, Slot
from slipway.gateway.asgi import (
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    header_map,
    read_body,
)
from slipway.gateway.backend_failures import answer_unreached
from slipway.gateway.calls import Call, new_call
from slipway.gateway.errors import send_error
from slipway.gateway.even_draws import GOLDEN_STEP, SILVER_STEP, EvenDraws
from slipway.gateway.inputs import request_input
from slipway.gateway.mirror import Mirror
from slipway.gateway.recorder import Recorder
from slipway.gateway.relay import relay_error, relay_stream, relay_unary
from slipway.gateway.route_table import RouteHolder
from slipway.gateway.routing import drill_slot, pick
from slipway.gateway.upstream import ResolveEngine, UpstreamRequest, engine_target, post, upstream_request
from slipway.gateway.validation import ClientLabels, Problem, client_labels, parse_request

log = logging.getLogger("slipway.gateway")


class Proxy:
    def __init__(
        self,
        routes: RouteHolder,
        recorder: Recorder | None,
        *,
        max_body_bytes: int,
        resolve_engine: ResolveEngine | None = None,
        record_inputs: bool = True,
        input_max_chars: int = 4000,
    ) -> None:
        self._routes = routes
        #: Shadow mode's copies to the candidate, when the app wires one.
        self.mirror: Mirror | None = None
        #: For llamacpp slots: where the engine answers and its adapter order (a cached lookup).
        self._resolve_engine = resolve_engine
        self._recorder = recorder
        self._max_body = max_body_bytes
        #: Keep what each request asked with its record (`gateway.record_inputs`), its text cut here.
        self.record_inputs = record_inputs
        self.input_max_chars = input_max_chars
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float, float], aiohttp.ClientTimeout] = {}
        #: Evenly spread draws for the weighted split, and another for shadow sampling.
        self._split = EvenDraws(GOLDEN_STEP)
        self._sample = EvenDraws(SILVER_STEP)
        self.in_flight = 0
        #: Requests answered (or being answered) whose record is not queued yet, by id: feedback
        #: may arrive between the last byte to the client and the record (same loop, other task).
        self._unrecorded: dict[str, asyncio.Event] = {}
        #: Requests routed by a running drill's pin (answered, never recorded).
        self.drill_requests = 0

    def bind_recorder(self, recorder: Recorder) -> None:
        self._recorder = recorder

    async def resolve_engine(self, slot: Slot) -> EngineInfo:
        """Where a llamacpp slot's engine answers, and its adapter order (the mirror needs it too)."""
        if self._resolve_engine is None:
            raise NotFoundError(f"slot {slot.name!r} runs on an engine, and this gateway has no engines")
        return await self._resolve_engine(slot)

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The upstream connection pool (the mirror shares it)."""
        return self._session

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _recorded(self, request_id: str) -> None:
        done = self._unrecorded.pop(request_id, None)
        if done is not None:
            done.set()

    async def until_recorded(self, request_id: str, timeout: float = 10.0) -> None:
        """Return once a request this gateway is answering has its record queued (at once if not ours)."""
        done = self._unrecorded.get(request_id)
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout)

    def _timeout(self, slot: Slot) -> aiohttp.ClientTimeout:
        key = (slot.connect_timeout_s, slot.read_timeout_s)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=key[0], sock_read=key[1])
            self._timeouts[key] = timeout
        return timeout

    async def handle(self, api: Api, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one client request: read, validate, route, offer a copy, call, relay, record.

        Refusals before routing are answered and not recorded (no slot is at fault). From `_begin`
        on, `_record` runs however the request ends: one record per request, and feedback waiting
        for that record is released even when slipway itself failed.
        """
        t0, started_at = time.perf_counter(), time.time()
        raw = await self._read(api, receive, send)
        if raw is None:
            return
        request = await self._validate(api, scope, raw, send)
        if request is None:
            return
        body, labels = request
        routed = await self._route(api, labels, send)
        if routed is None:
            return
        table, slot, drill = routed
        call = self._begin(api, body, labels, table, slot, t0, started_at, receive, send)
        call.raw = raw
        if drill:
            call.drill = True
            call.reply_headers.append((b"x-slipway-drill", b"pinned"))
            self.drill_requests += 1
        try:
            self._offer(call, table, pinned=labels.slot is not None or drill)
            upstream = await self._prepare(call)
            if upstream is not None:
                await self._call(call, upstream)
        except Exception:
            await self._fault(call)
        finally:
            self._record(call)

    async def _read(self, api: Api, receive: Receive, send: Send) -> bytes | None:
        """The request body, or None once the client was answered (too large) or has gone."""
        try:
            return await read_body(receive, self._max_body)
        except BodyTooLarge:
            await send_error(
                send,
                api,
                413,
                f"request body is larger than the limit of {self._max_body} bytes; send a smaller "
                "request, or raise gateway.max_body_bytes in the routing config",
                "body_too_large",
            )
        except ClientGone:
            pass
        return None

    async def _validate(
        self, api: Api, scope: Scope, raw: bytes, send: Send
    ) -> tuple[dict[str, Any], ClientLabels] | None:
        """The parsed body and slipway's labels on it, or None once the client was told what is wrong."""
        headers = header_map(scope)
        body = parse_request(api, raw, headers.get(b"content-type"))
        if isinstance(body, Problem):
            await send_error(send, api, 400, body.message, body.code, param=body.param)
            return None
        labels = client_labels(headers, body)
        if isinstance(labels, Problem):
            await send_error(send, api, 400, labels.message, labels.code, param=labels.param)
            return None
        return body, labels

    async def _route(
        self, api: Api, labels: ClientLabels, send: Send
    ) -> tuple[RouteTable, Slot, bool] | None:
        """The slot this request goes to, and whether it is a drill's.

        A running drill's own requests (its token in X-Slipway-Drill) go to its
        pinned slot; else the slot the client pinned, else the compiled routes' pick.
        """
        routes = self._routes.compiled
        if routes is None:
            await send_error(send, api, 503, "slipway has no routes yet; it is still starting", "not_ready")
            return None
        drilled = drill_slot(routes, labels.drill)
        if drilled is not None:
            return routes.table, drilled, True
        if labels.slot is None:
            # A draw only when the weights decide: sticky keys and single routes skip the sequence,
            # so the draws the split uses stay consecutive and evenly spread.
            decides = routes.single is None and not labels.sticky_key
            return routes.table, pick(routes, labels.sticky_key, self._split() if decides else 0.0), False
        slot = routes.table.slots.get(labels.slot)
        if slot is None:
            known = ", ".join(routes.table.slots)
            await send_error(
                send,
                api,
                400,
                f"X-Slipway-Slot names unknown slot {labels.slot!r} (slots: {known})",
                "unknown_slot",
            )
            return None
        return routes.table, slot, False

    def _begin(
        self,
        api: Api,
        body: dict[str, Any],
        labels: ClientLabels,
        table: RouteTable,
        slot: Slot,
        t0: float,
        started_at: float,
        receive: Receive,
        send: Send,
    ) -> Call:
        """The request from here on: it has an id, and will have exactly one record."""
        request_id = os.urandom(12).hex()
        self._unrecorded[request_id] = asyncio.Event()
        return new_call(request_id, api, body, labels, table, slot, t0, started_at, receive, send)

    def _offer(self, call: Call, table: RouteTable, *, pinned: bool) -> None:
        """A copy of this request for the shadow candidate, if a shadow run samples it.

        A request pinned with X-Slipway-Slot (a drill, a check of a standby slot) is not production
        traffic, so it is never copied.
        """
        if (
            table.mirror is None
            or table.mirror_run is None
            or pinned
            or self.mirror is None
            or call.slot.name == table.mirror
            or not (table.mirror_bp >= WEIGHT_SCALE or self._sample() * WEIGHT_SCALE < table.mirror_bp)
        ):
            return
        shadow = table.slots.get(table.mirror)
        if shadow is None:
            return
        call.job = self.mirror.offer(
            run=table.mirror_run,
            candidate=shadow,
            api=call.api,
            body=call.body,
            category=call.rec.category,
            request_id=call.rec.request_id,
            stream=call.stream,
            started_at=call.rec.started_at,
        )

    async def _prepare(self, call: Call) -> UpstreamRequest | None:
        """The request for the slot's backend, or None once the client was told why there is none."""
        rec, send = call.rec, call.send
        try:
            call.slot, extras = await engine_target(call.slot, self._resolve_engine)
        except (BackendError, NotFoundError) as exc:
            rec.status, rec.error = 502, "engine_unavailable"
            await send_error(send, call.api, 502, str(exc), "engine_unavailable", call.reply_headers)
            return None
        try:
            return upstream_request(
                call.exchange,
                call.slot,
                call.body,
                call.stream,
                extras,
                request_id=rec.request_id,
                category=rec.category,
            )
        except ValidationError as exc:
            # What only a translation to the slot's backend API refuses (e.g. a malformed tool call).
            call.clients_fault = True
            rec.status, rec.error = 400, "invalid_request"
            await send_error(send, call.api, 400, str(exc), "invalid_request")
            return None

    async def _fault(self, call: Call) -> None:
        """A fault in slipway itself: logged with its traceback, recorded as the gateway's own
        (never the slot's), and answered with a 500 if the answer had not begun."""
        rec = call.rec
        log.exception("request %s failed inside slipway", rec.request_id)
        rec.status, rec.error, rec.aborted = 500, "gateway_error", rec.status != 0
        with contextlib.suppress(Exception):
            await send_error(
                call.send,
                call.api,
                500,
                f"slipway failed on this request (request id {rec.request_id}; the gateway's log has "
                "the details); retry, and report it if it persists",
                "gateway_error",
                call.reply_headers,
            )

    def _record(self, call: Call) -> None:
        rec = call.rec
        rec.latency_ms = (time.perf_counter() - call.t0) * 1000.0
        # A drill's request is not user traffic: no record, so no canary, bake, drift or report sees it.
        if self._recorder is not None and not call.clients_fault and not call.drill:
            self._recorder.record(rec, self._input(call) if self.record_inputs else None)
        # However the request ended, feedback waiting for its record must not wait for ever.
        self._recorded(rec.request_id)
        if call.job is not None:
            call.job.finish(rec, call.answer)

    def _input(self, call: Call) -> RequestInput | None:
        """What the request asked, kept with its record; None (logged) if a bug spoils it: the
        record, and whoever waits for it, must not pay for the input."""
        try:
            return request_input(
                call.rec.request_id,
                call.api,
                call.body,
                max_chars=self.input_max_chars,
                raw=call.raw,
            )
        except Exception:
            log.exception("request %s: could not read its input; recorded without it", call.rec.request_id)
            return None

    async def _call(self, call: Call, upstream: UpstreamRequest) -> None:
        """Send the request to the slot's backend and relay its answer, whatever it is."""
        assert self._session is not None, "Proxy.start() was not called"
        self.in_flight += 1
        try:
            try:
                resp = await post(self._session, upstream, self._timeout(call.slot))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                await answer_unreached(call, exc)
                return
            try:
                if resp.status >= 400:
                    await relay_error(call, resp)
                elif call.stream and resp.content_type in ("text/event-stream", "application/x-ndjson"):
                    await relay_stream(call, resp)
                else:
                    await relay_unary(call, resp)
            finally:
                resp.release()
        finally:
            self.in_flight -= 1
