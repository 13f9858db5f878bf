"""Forward one request to the slot's backend and stream the answer back, chunk by chunk.

The slot is chosen once, from the compiled routes read at the start of the
request; a route switch during a long stream does not move it. Upstream
failures become well-formed errors in the client's own API, and every request
ends in exactly one record for the recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from slipway.core.errors import BackendError, NotFoundError, ValidationError
from slipway.core.lora import EngineInfo
from slipway.core.records import Api, RequestRecord
from slipway.core.shadow import MAX_PAIR_TEXT
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
from slipway.gateway.connections import own_exhaustion
from slipway.gateway.errors import send_error, stream_error_event, upstream_error_message
from slipway.gateway.exchanges import Exchange, exchange_for
from slipway.gateway.mirror import Mirror, MirrorJob
from slipway.gateway.output import HEAD_CHARS, OutputTracker, completion_tokens, extract_output
from slipway.gateway.recorder import Recorder
from slipway.gateway.request_bodies import client_wants_stream
from slipway.gateway.route_table import RouteHolder
from slipway.gateway.routing import pick
from slipway.gateway.streams import OpenAIToOllamaStream
from slipway.gateway.upstream import ResolveEngine, UpstreamRequest, engine_target, post, upstream_request
from slipway.gateway.validation import ClientLabels, Problem, client_labels, parse_request

log = logging.getLogger("slipway.gateway")

STREAM_TYPES = {"sse": b"text/event-stream", "ndjson": b"application/x-ndjson"}


@dataclass(slots=True, eq=False)
class Call:
    """One request from routing on: what each later step reads, and the record it writes into.

    The slot is the one routed to, moved to where its engine answers once that is known.
    """

    api: Api
    body: dict[str, Any]
    slot: Slot
    exchange: Exchange
    stream: bool
    #: The model name the client sent, echoed in translated answers (else the slot's).
    public_model: str
    rec: RequestRecord
    reply_headers: list[tuple[bytes, bytes]]
    t0: float
    receive: Receive
    send: Send
    job: MirrorJob | None = None
    #: Production's answer for the shadow pair (a stream keeps it only when the request is mirrored).
    answer: str = ""
    #: A request only the client got wrong is answered 400 and not recorded against any slot.
    clients_fault: bool = False


class Proxy:
    def __init__(
        self,
        routes: RouteHolder,
        recorder: Recorder | None,
        *,
        max_body_bytes: int,
        resolve_engine: ResolveEngine | None = None,
    ) -> None:
        self._routes = routes
        #: Shadow mode's copies to the candidate, when the app wires one.
        self.mirror: Mirror | None = None
        #: For llamacpp slots: where the engine answers and its adapter order (a cached lookup).
        self._resolve_engine = resolve_engine
        self._recorder = recorder
        self._max_body = max_body_bytes
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float, float], aiohttp.ClientTimeout] = {}
        self._random = random.random
        self.in_flight = 0
        #: Requests answered (or being answered) whose record is not queued yet, by id: feedback
        #: may arrive between the last byte to the client and the record (same loop, other task).
        self._unrecorded: dict[str, asyncio.Event] = {}

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
        table, slot = routed
        call = self._begin(api, body, labels, table, slot, t0, started_at, receive, send)
        try:
            self._offer(call, table, pinned=labels.slot is not None)
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

    async def _route(self, api: Api, labels: ClientLabels, send: Send) -> tuple[RouteTable, Slot] | None:
        """The slot this request goes to: the one the client pinned, else the compiled routes's pick."""
        routes = self._routes.compiled
        if routes is None:
            await send_error(send, api, 503, "slipway has no routes yet; it is still starting", "not_ready")
            return None
        if labels.slot is None:
            return routes.table, pick(routes, labels.sticky_key, self._random())
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
        return routes.table, slot

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
        stream = client_wants_stream(api, body)
        request_id = os.urandom(12).hex()
        self._unrecorded[request_id] = asyncio.Event()
        rec = RequestRecord(
            request_id=request_id,
            started_at=started_at,
            slot=slot.name,
            version=slot.version_label,
            api=api.value,
            stream=stream,
            route_version=table.version,
            category=labels.category,
            sticky_key=labels.sticky_key,
        )
        model = body.get("model")
        return Call(
            api=api,
            body=body,
            slot=slot,
            exchange=exchange_for(api, slot.kind),
            stream=stream,
            public_model=model if isinstance(model, str) else slot.model,
            rec=rec,
            reply_headers=[
                (b"x-slipway-request-id", request_id.encode()),
                (b"x-slipway-slot", slot.name.encode()),
                (b"x-slipway-version", rec.version.encode()),
            ],
            t0=t0,
            receive=receive,
            send=send,
        )

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
            or not (table.mirror_bp >= WEIGHT_SCALE or self._random() * WEIGHT_SCALE < table.mirror_bp)
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
        if self._recorder is not None and not call.clients_fault:
            self._recorder.record(rec)
        # However the request ended, feedback waiting for its record must not wait for ever.
        self._recorded(rec.request_id)
        if call.job is not None:
            call.job.finish(rec, call.answer)

    async def _call(self, call: Call, upstream: UpstreamRequest) -> None:
        """Send the request to the slot's backend and relay its answer, whatever it is."""
        assert self._session is not None, "Proxy.start() was not called"
        slot, rec = call.slot, call.rec
        self.in_flight += 1
        try:
            try:
                resp = await post(self._session, upstream, self._timeout(slot))
            except TimeoutError as exc:
                rec.status, rec.error = 504, "backend_timeout"
                what, hint = _timed_out(slot, exc)
                await send_error(
                    call.send,
                    call.api,
                    504,
                    f"backend of slot {slot.name!r} ({slot.endpoint}) {what}; {hint}",
                    "backend_timeout",
                    call.reply_headers,
                )
                return
            except (aiohttp.ClientError, OSError) as exc:
                status, code, message = _unreachable(slot, exc)
                rec.status, rec.error, rec.aborted = status, code, code == "backend_disconnected"
                await send_error(call.send, call.api, status, message, code, call.reply_headers)
                return
            try:
                if resp.status >= 400:
                    await self._relay_error(call, resp)
                elif call.stream and resp.content_type in ("text/event-stream", "application/x-ndjson"):
                    await self._relay_stream(call, resp)
                else:
                    await self._relay_unary(call, resp)
            finally:
                resp.release()
        finally:
            self.in_flight -= 1

    async def _relay_error(self, call: Call, resp: aiohttp.ClientResponse) -> None:
        try:
            data = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            data = b""
        status = 502 if resp.status >= 500 else resp.status
        call.rec.status, call.rec.error = status, f"upstream_{resp.status}"
        detail = upstream_error_message(data, 300) if data.strip() else ""
        await send_error(
            call.send,
            call.api,
            status,
            f"backend of slot {call.slot.name!r} answered HTTP {resp.status}: {detail or '(empty body)'}",
            "upstream_error",
            call.reply_headers,
        )

    async def _relay_unary(self, call: Call, resp: aiohttp.ClientResponse) -> None:
        api, slot, rec, send, exchange = call.api, call.slot, call.rec, call.send, call.exchange
        try:
            data = await resp.read()
        except TimeoutError as exc:
            rec.status, rec.error, rec.aborted = 504, "backend_timeout", True
            what, hint = _timed_out(slot, exc)
            await send_error(
                send,
                api,
                504,
                f"backend of slot {slot.name!r} {what} while answering; {hint}",
                "backend_timeout",
                call.reply_headers,
            )
            return
        except (aiohttp.ClientError, OSError) as exc:
            rec.status, rec.error, rec.aborted = 502, "stream_interrupted", True
            await send_error(
                send,
                api,
                502,
                f"backend of slot {slot.name!r} failed while answering ({_describe(exc)}); "
                "the answer is incomplete",
                "stream_interrupted",
                call.reply_headers,
            )
            return
        rec.ttft_ms = (time.perf_counter() - call.t0) * 1000.0
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            rec.status, rec.error = 502, "bad_upstream_body"
            await send_error(
                send,
                api,
                502,
                f"backend of slot {slot.name!r} sent a body that is not a JSON object",
                "bad_upstream_body",
                call.reply_headers,
            )
            return
        text = extract_output(exchange.upstream_api.value, obj)
        rec.output_chars = len(text)
        rec.output_head = text[:HEAD_CHARS]
        rec.output_tokens = completion_tokens(obj)
        call.answer = text
        if exchange.from_upstream is not None:
            data = orjson.dumps(exchange.from_upstream(obj, call.public_model))
        rec.status = 200
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), *call.reply_headers],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _relay_stream(self, call: Call, resp: aiohttp.ClientResponse) -> None:
        api, slot, rec, send, exchange = call.api, call.slot, call.rec, call.send, call.exchange
        receive = call.receive
        mirrored = call.job is not None
        keep = MAX_PAIR_TEXT + 1 if mirrored else HEAD_CHARS
        tracker = OutputTracker(exchange.upstream_api, exchange.upstream_framing, call.t0, keep=keep)
        translator = OpenAIToOllamaStream(api.value, call.public_model) if exchange.translates else None
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", STREAM_TYPES[exchange.client_framing()]),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *call.reply_headers,
                ],
            }
        )
        rec.status = 200
        client_gone = asyncio.Event()

        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    client_gone.set()
                    resp.close()
                    return

        watcher = asyncio.create_task(watch_disconnect())
        failure: str | None = None
        code = "stream_interrupted"
        try:
            async for chunk in resp.content.iter_any():
                objs = tracker.feed(chunk)
                if translator is None:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                else:
                    out = b"".join(line for obj in objs for line in translator.feed(obj))
                    if out:
                        await send({"type": "http.response.body", "body": out, "more_body": True})
                if client_gone.is_set():
                    break
        except TimeoutError as exc:
            what, hint = _timed_out(slot, exc)
            failure, code = f"{what} mid-stream ({hint})", "backend_timeout"
        except (aiohttp.ClientError, OSError, BackendError) as exc:
            failure = f"failed mid-stream ({_describe(exc)})"
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        tracker.finish_into(rec)
        if mirrored:
            call.answer = tracker.text
        if client_gone.is_set():
            rec.aborted, rec.error = True, "client_disconnected"
            return
        if tracker.error is not None:
            # The backend reported its own failure mid-stream, and the client has been sent it
            # (as is, or as an Ollama error line): a failed request even if [DONE] followed.
            rec.aborted, rec.error = True, "upstream_error"
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if failure is None and tracker.malformed is not None:
            failure, code = (
                f"sent a stream event that is not a JSON object ({tracker.malformed!r})",
                "bad_upstream_stream",
            )
        if failure is None and not tracker.complete:
            failure = "failed mid-stream (the connection closed before the stream's end marker)"
        if failure is not None:
            rec.aborted, rec.error = True, code
            event = stream_error_event(
                api, f"backend of slot {slot.name!r} {failure}; the answer is incomplete", code
            )
            await send({"type": "http.response.body", "body": event, "more_body": False})
            return
        tail = b"".join(translator.finish()) if translator is not None else b""
        await send({"type": "http.response.body", "body": tail, "more_body": False})


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


def _unreachable(slot: Slot, exc: BaseException) -> tuple[int, str, str]:
    """(status, error code, message) for a backend that could not be reached, or dropped the request."""
    where = f"backend of slot {slot.name!r} ({slot.endpoint})"
    os_error = own_exhaustion(exc)
    if os_error is not None:
        return (
            503,
            "gateway_overloaded",
            (
                f"slipway could not open a connection to the {where}: it is out of resources itself "
                f"({os_error.strerror}); retry shortly (see gateway.max_connections in the routing config)"
            ),
        )
    connected = isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError) and not isinstance(
        exc, aiohttp.ClientConnectorError
    )
    if connected:
        # It took the request, then closed or reset the connection: a crash, a restart, an OOM kill.
        return (
            502,
            "backend_disconnected",
            (
                f"{where} dropped the connection before answering ({_describe(exc)}); "
                "it may have crashed or restarted"
            ),
        )
    return 502, "backend_unavailable", f"{where} is unreachable: {_describe(exc)}"


def _timed_out(slot: Slot, exc: BaseException) -> tuple[str, str]:
    """What a timeout of this slot means, and the setting that changes it."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return (
            f"could not be connected to within {slot.connect_timeout_s:g}s",
            f"check that it is up, or raise slots.{slot.name}.timeouts.connect",
        )
    return (
        f"sent no data for {slot.read_timeout_s:g}s",
        f"raise slots.{slot.name}.timeouts.read if the model is just slow",
    )
