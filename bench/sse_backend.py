"""A tiny OpenAI-style SSE server for the streaming benchmark (raw ASGI on uvicorn + uvloop + httptools).

Every streamed chat completion is CHUNKS chunks, INTERVAL ms apart on an
absolute schedule from the request's arrival (the first at once); chunk i
carries the content "t<i> " so a client can check that none was lost or
reordered, and the stream ends with a stop chunk and `data: [DONE]`.

`--delay-ms` holds every POST that long before answering (the 2-second slow
candidate of the shadow-mode benchmark); `GET /v1/models` lists one model, so
a deploy's health check of the server passes.

    python bench/sse_backend.py --port 9000 [--chunks 64] [--interval-ms 20] [--delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import uvicorn

SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
JSON_HEADERS = [(b"content-type", b"application/json")]
MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()


def _chunk(delta: dict[str, str], finish: str | None) -> bytes:
    obj = {
        "id": "chatcmpl-sse",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def make_app(chunks: int, interval_s: float, delay_s: float = 0.0) -> Any:
    frames = [_chunk({"content": f"t{i} "}, None) for i in range(chunks)]
    tail = _chunk({}, "stop") + b"data: [DONE]\n\n"
    whole = json.dumps(
        {
            "id": "chatcmpl-sse",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "bench",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
        }
    ).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if scope["method"] == "GET" and scope["path"] == "/v1/models":
            await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
            await send({"type": "http.response.body", "body": MODELS})
            return
        if scope["method"] == "POST" and delay_s > 0:
            await asyncio.sleep(delay_s)
            start = loop.time()
        if scope["method"] != "POST" or b'"stream":true' not in body.replace(b" ", b""):
            await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
            await send({"type": "http.response.body", "body": whole})
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for i, frame in enumerate(frames):
            delay = start + i * interval_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": tail})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="hold every POST this long first")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.chunks, args.interval_ms / 1000, args.delay_ms / 1000),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
