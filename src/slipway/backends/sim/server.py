"""The simulator as an OpenAI-compatible HTTP server: carries out `Plan`s on the clock.

The completion endpoints are raw ASGI callables (no Request object, no
per-chunk generator machinery) because drills and benchmarks point thousands
of requests a second at one process; the cold endpoints use plain Starlette.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from slipway.backends.sim.behaviour import Plan, Simulator
from slipway.backends.sim.profile import ErrorMode, SimProfile, load_profile

CATEGORY_HEADER = b"x-slipway-category"
JSON = (b"content-type", b"application/json")
SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
DONE = b"data: [DONE]\n\n"
_ERRORS = {
    500: ("The simulated server had an error while processing your request.", "server_error", None),
    503: ("The simulated server is overloaded; retry later.", "server_error", None),
    429: ("Simulated rate limit reached; slow down.", "requests", "rate_limit_exceeded"),
    504: ("The simulated server hung and gave up.", "server_error", "timeout"),
}


class _Disconnect(Exception):
    """Raised on purpose: uvicorn drops the connection when an app fails after the response started."""


class _QuietDisconnect(logging.Filter):
    """Keep deliberate disconnects out of uvicorn's error log; real crashes still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Disconnect))


_QUIET = _QuietDisconnect()


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    answered: int = 0
    correct: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class SimStats:
    """Counts of what was planned at arrival, for `/sim/stats` and for tests to check."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self._by: dict[str, _Tally] = {}
        #: Whether the model is in memory. Like Ollama, an unloaded model is loaded again by the
        #: next request; drills see the release and the reload in `/sim/stats`.
        self.loaded = True
        self.loads = 0
        self.unloads = 0

    def unload(self) -> None:
        if self.loaded:
            self.loaded = False
            self.unloads += 1

    def load(self) -> None:
        if not self.loaded:
            self.loaded = True
            self.loads += 1

    def record(self, plan: Plan) -> None:
        self.load()
        tally = self._by.get(plan.category)
        if tally is None:
            tally = self._by[plan.category] = _Tally()
        tally.requests += 1
        if plan.error is not None:
            tally.errors[plan.error.value] += 1
        else:
            tally.answered += 1
            tally.correct += plan.correct is True

    def snapshot(self) -> dict[str, Any]:
        categories = {
            name: {
                "requests": t.requests,
                "answered": t.answered,
                "correct": t.correct,
                "errors": dict(t.errors),
            }
            for name, t in self._by.items()
        }
        return {
            "since": self.started_at,
            "requests": sum(t.requests for t in self._by.values()),
            "errors": sum(sum(t.errors.values()) for t in self._by.values()),
            "categories": categories,
            "loaded": self.loaded,
            "loads": self.loads,
            "unloads": self.unloads,
        }


def _error_body(status: int, message: str | None = None, param: str | None = None) -> bytes:
    default, kind, code = _ERRORS.get(status, ("Invalid request.", "invalid_request_error", None))
    error = {"message": message or default, "type": kind, "param": param, "code": code}
    return orjson.dumps({"error": error})


def _length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode())


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [*headers, _length(body)]})
    await send({"type": "http.response.body", "body": body})


async def _hang(receive: Receive, seconds: float) -> bool:
    """Wait like a stuck server; True if the client is still there after `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return True
    return False


class _Clock:
    """Sleeps to points on the plan's timeline, counted from the request's arrival.

    Plain sleeps, no disconnect watcher: a watcher task per request halves the
    throughput, and a client that left only costs the rest of a bounded plan
    (uvicorn drops sends to a closed connection).
    """

    __slots__ = ("_loop", "_start")

    def __init__(self, start: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._start = start

    async def until(self, at: float) -> None:
        delay = self._start + at - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


class _Answer:
    """Renders one plan in the OpenAI wire shapes of the chat or legacy completions API."""

    __slots__ = ("_base", "_chat", "_usage", "_with_usage", "plan")

    def __init__(
        self, plan: Plan, *, chat: bool, model: str, fingerprint: str, prompt_tokens: int, with_usage: bool
    ) -> None:
        self.plan = plan
        self._chat = chat
        #: stream_options.include_usage: a usage-only chunk at the end, and `usage: null` on the others.
        self._with_usage = with_usage
        self._base: dict[str, Any] = {
            "id": ("chatcmpl-" if chat else "cmpl-") + os.urandom(12).hex(),
            "object": "",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": fingerprint,
        }
        n = len(plan.tokens)
        self._usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": n,
            "total_tokens": prompt_tokens + n,
        }

    def whole(self) -> bytes:
        plan = self.plan
        if self._chat:
            message = {"role": "assistant", "content": plan.text, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish_reason}
            obj = "chat.completion"
        else:
            choice = {"text": plan.text, "index": 0, "logprobs": None, "finish_reason": plan.finish_reason}
            obj = "text_completion"
        return orjson.dumps({**self._base, "object": obj, "choices": [choice], "usage": self._usage})

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        obj = {**self._base, "object": "chat.completion.chunk" if self._chat else "text_completion"}
        obj["choices"] = choices
        if self._with_usage:
            obj["usage"] = usage
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def _choice(self, text: str | None, finish: str | None, role: bool = False) -> dict[str, Any]:
        if not self._chat:
            return {"text": text or "", "index": 0, "logprobs": None, "finish_reason": finish}
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
        if text is not None:
            delta["content"] = text
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def opening(self) -> bytes:
        """The chat API's role-only first chunk; the completions API has none."""
        return self._chunk([self._choice(None, None, role=True)]) if self._chat else b""

    def token(self, i: int) -> bytes:
        return self._chunk([self._choice(self.plan.tokens[i], None)])

    def closing(self) -> bytes:
        tail = self._chunk([self._choice(None, self.plan.finish_reason)])
        if self._with_usage:
            tail += self._chunk([], self._usage)
        return tail + DONE


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _prompt(req: dict[str, Any], chat: bool) -> tuple[str, int]:
    """(text the category is read from, prompt size in words); ValueError names a bad field."""
    if chat:
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise ValueError("messages")
        texts = [_text_of(m.get("content")) for m in messages]
        user = [t for m, t in zip(messages, texts, strict=True) if m.get("role") == "user"]
        return (user[-1] if user else texts[-1]), sum(len(t.split()) for t in texts)
    prompt = req.get("prompt")
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        prompt = prompt[-1] if prompt else ""
    if not isinstance(prompt, str):
        raise ValueError("prompt")
    return prompt, len(prompt.split())


class _CompletionEndpoint:
    """POST /v1/chat/completions or /v1/completions: plan on arrival, then play the plan."""

    def __init__(self, sim: Simulator, stats: SimStats, *, chat: bool) -> None:
        self._sim = sim
        self._stats = stats
        self._chat = chat
        self._model = sim.profile.model
        self._version = sim.profile.version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = asyncio.get_running_loop().time()
        chunks: list[bytes] = []
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            req = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            req = None
        if not isinstance(req, dict):
            await _send(send, 400, _error_body(400, "the body is not a JSON object"), [JSON])
            return
        try:
            text, prompt_tokens = _prompt(req, self._chat)
        except ValueError as exc:
            await _send(send, 400, _error_body(400, f"'{exc}' is missing or malformed", str(exc)), [JSON])
            return
        header = next((v for k, v in scope["headers"] if k == CATEGORY_HEADER), None)
        category = self._sim.categorize(header.decode("latin-1") if header else None, text)
        limit = req.get("max_completion_tokens") or req.get("max_tokens")
        plan = self._sim.plan(category, limit if isinstance(limit, int) else None, text)
        self._stats.record(plan)
        headers = [(b"x-sim-category", plan.category.encode()), (b"x-sim-version", self._version.encode())]
        await self._play(plan, req, prompt_tokens, _Clock(start), receive, send, headers)

    async def _play(
        self,
        plan: Plan,
        req: dict[str, Any],
        prompt_tokens: int,
        clock: _Clock,
        receive: Receive,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        if plan.error is ErrorMode.TIMEOUT:
            if await _hang(receive, plan.hang_s):
                await _send(send, 504, _error_body(504), [JSON, *headers])
            return
        if plan.error is not None and plan.error.status is not None:
            await _send(send, plan.error.status, _error_body(plan.error.status), [JSON, *headers])
            return
        options = req.get("stream_options")
        answer = _Answer(
            plan,
            chat=self._chat,
            model=self._model,
            fingerprint=self._version,
            prompt_tokens=prompt_tokens,
            with_usage=isinstance(options, dict) and bool(options.get("include_usage")),
        )
        cut = len(plan.tokens) // 2 if plan.error is ErrorMode.DISCONNECT else -1
        if not req.get("stream"):
            body = answer.whole()
            await clock.until(plan.total_s)
            if cut >= 0:
                start = [JSON, _length(body), *headers]
                await send({"type": "http.response.start", "status": 200, "headers": start})
                await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
                raise _Disconnect
            await _send(send, 200, body, [JSON, *headers])
            return
        await clock.until(plan.ttft_s)
        await send({"type": "http.response.start", "status": 200, "headers": [*SSE, *headers]})
        prefix = answer.opening()
        for i in range(len(plan.tokens)):
            if i == cut:
                await send({"type": "http.response.body", "body": prefix, "more_body": True})
                raise _Disconnect
            await clock.until(plan.token_at(i))
            await send({"type": "http.response.body", "body": prefix + answer.token(i), "more_body": True})
            prefix = b""
        await clock.until(plan.total_s)
        await send({"type": "http.response.body", "body": answer.closing()})


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


def create_sim_app(profile: SimProfile | str | os.PathLike[str], *, seed: int | None = None) -> Starlette:
    """The simulator as an ASGI app; `seed` (else the profile's) makes the answers reproducible."""
    if not isinstance(profile, SimProfile):
        profile = load_profile(os.fspath(profile))
    sim = Simulator(profile, seed)
    stats = SimStats()
    created = int(time.time())
    uvicorn_log = logging.getLogger("uvicorn.error")
    if _QUIET not in uvicorn_log.filters:
        uvicorn_log.addFilter(_QUIET)

    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    async def models(request: Request) -> Response:
        entry = {"id": profile.model, "object": "model", "created": created, "owned_by": "slipway-sim"}
        return _json({"object": "list", "data": [entry]})

    async def sim_stats(request: Request) -> Response:
        return _json(
            {"model": profile.model, "version": profile.version, "seed": sim.seed, **stats.snapshot()}
        )

    async def sim_unload(request: Request) -> Response:
        stats.unload()
        return _json({"model": profile.model, "loaded": stats.loaded})

    async def sim_load(request: Request) -> Response:
        stats.load()
        return _json({"model": profile.model, "loaded": stats.loaded})

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/models", models),
            Route("/v1/chat/completions", _CompletionEndpoint(sim, stats, chat=True), methods=["POST"]),
            Route("/v1/completions", _CompletionEndpoint(sim, stats, chat=False), methods=["POST"]),
            Route("/sim/stats", sim_stats),
            Route("/sim/unload", sim_unload, methods=["POST"]),
            Route("/sim/load", sim_load, methods=["POST"]),
        ]
    )
    app.state.simulator = sim
    app.state.stats = stats
    return app


def serve_sim(
    profile: SimProfile | str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    seed: int | None = None,
) -> None:
    """Run the simulator until interrupted, on the fastest stack uvicorn offers."""
    app = create_sim_app(profile, seed=seed)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        # A `timeout` failure hangs for hang_s; stopping the server should not wait for it.
        timeout_graceful_shutdown=5,
    )
