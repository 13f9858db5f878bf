"""The backend's answer, relayed to the client: an error, one JSON body, or a stream chunk by chunk.

Each relay fills in the call's record (status, first-byte time, output) and
ends the client's answer, whatever the backend does midway. A stream is passed
through byte for byte unless the client's API needs translating, and stops
when the client disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import orjson

from slipway.core.errors import BackendError
from slipway.core.shadow import MAX_PAIR_TEXT
from slipway.gateway.backend_failures import describe, timed_out
from slipway.gateway.calls import Call
from slipway.gateway.errors import send_error, stream_error_event, upstream_error_message
from slipway.gateway.output import HEAD_CHARS, OutputTracker, completion_tokens, extract_output
from slipway.gateway.streams import OpenAIToOllamaStream

STREAM_TYPES = {"sse": b"text/event-stream", "ndjson": b"application/x-ndjson"}


async def relay_error(call: Call, resp: aiohttp.ClientResponse) -> None:
    """An HTTP error from the backend, as an error in the client's API (5xx become 502)."""
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


async def relay_unary(call: Call, resp: aiohttp.ClientResponse) -> None:
    """One JSON answer, read whole, translated if the client's API needs it."""
    api, slot, rec, send, exchange = call.api, call.slot, call.rec, call.send, call.exchange
    try:
        data = await resp.read()
    except TimeoutError as exc:
        rec.status, rec.error, rec.aborted = 504, "backend_timeout", True
        what, hint = timed_out(slot, exc)
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
            f"backend of slot {slot.name!r} failed while answering ({describe(exc)}); "
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


async def relay_stream(call: Call, resp: aiohttp.ClientResponse) -> None:
    """A stream, chunk by chunk as it arrives; ended with an error event if the backend fails midway."""
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
        what, hint = timed_out(slot, exc)
        failure, code = f"{what} mid-stream ({hint})", "backend_timeout"
    except (aiohttp.ClientError, OSError, BackendError) as exc:
        failure = f"failed mid-stream ({describe(exc)})"
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
