"""A FAKE LLM judge for tests only: an OpenAI-compatible `/v1/chat/completions` that runs no model.

It answers from the prompt's content, deterministically, so tests can say
what a correct judge client must conclude. It reads the layout
`slipway.backends.llm_judge` sends (`<answer_a>…</answer_a>`,
`<answer_b>…</answer_b>`) and, by `behaviour`:

- "keyword": prefers the answer containing `keyword` ("A", "B", or "TIE"
  when both or neither do) — a judge that looks at content;
- "keyword-json": the same verdict as `{"winner": "B"}` in a ```json fence;
- "always-a": "A" whatever it is shown — a judge that follows position;
- "garbage": a sentence that is no verdict;
- "slow": holds the request until the client gives up (a judge that hangs);
- "error-500": an OpenAI-style error body with HTTP 500.

Responses have the OpenAI chat completion shape (id, object, created,
model, choices[0].message.content, finish_reason, usage). With `api_key`
set, a request without `Authorization: Bearer <api_key>` gets 401.
`FakeJudge.requests` keeps every request body and `max_in_flight` the
largest number of requests it held at once.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

BEHAVIOURS = ("keyword", "keyword-json", "always-a", "garbage", "slow", "error-500")
_SECTION = re.compile(r"<answer_(a|b)>\n(.*?)\n</answer_\1>", re.DOTALL)


@dataclass
class FakeJudge:
    behaviour: str
    keyword: str = "refund"
    delay_s: float = 0.0
    api_key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {self.behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._chat)

    def verdict(self, prompt: str) -> str:
        sections = dict(_SECTION.findall(prompt))
        a_has = self.keyword in sections.get("a", "").lower()
        b_has = self.keyword in sections.get("b", "").lower()
        return "A" if a_has and not b_has else "B" if b_has and not a_has else "TIE"

    async def _chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error("Incorrect API key provided.", "invalid_request_error", 401)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.behaviour == "slow":
                deadline = time.monotonic() + 30
                while not await request.is_disconnected() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            if self.behaviour == "error-500":
                return _error("The server had an error while processing your request.", "server_error", 500)
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
            if self.behaviour == "keyword":
                content = self.verdict(prompt)
            elif self.behaviour == "keyword-json":
                content = f'```json\n{{"winner": "{self.verdict(prompt)}"}}\n```'
            elif self.behaviour == "always-a":
                content = "A"
            else:
                content = "I think both answers have their merits, honestly."
            return JSONResponse(_completion(str(body.get("model", "")), content))
        finally:
            self.in_flight -= 1


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
    }


def _error(message: str, err_type: str, status: int) -> JSONResponse:
    body = {"error": {"message": message, "type": err_type, "param": None, "code": None}}
    return JSONResponse(body, status_code=status)
