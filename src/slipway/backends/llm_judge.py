"""An LLM judge over any OpenAI-compatible `/v1/chat/completions` server: is the candidate's answer preferred?

LLM judges favour a position — often whichever answer comes first — so
each pair is asked twice, once with production's answer as A and once with
the candidate's as A. Only a preference both orders agree on counts; a
judge that picks the same letter both times followed position, not
content, and the pair is a tie with the reason given. The verdict is asked
for as one word (A, B or TIE) at temperature 0 with a few tokens, so a
judgement costs one short generation per order and cannot ramble.

The judge never raises on a pair: a timeout, an HTTP error or an answer
that is not a verdict becomes `Preference(None, why)`, so a report can
show how many pairs went unjudged and why instead of failing. `judge_many`
(from `core.judging`, re-exported here) judges a report's sample of pairs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from slipway.core.judging import JudgeItem, judge_many
from slipway.core.shadow import Preference
from slipway.core.shadow_config import JudgeConfig

__all__ = ["JudgeItem", "LlmJudge", "Verdict", "chat_url", "combine", "judge_many", "parse_verdict"]

#: Enough for "TIE" or {"winner": "TIE"}; a judge that wants to explain is cut off early.
MAX_TOKENS = 16
#: Each text is cut to this many characters: a judge with a small context would refuse the
#: whole prompt otherwise, and the start of an answer decides most preferences.
MAX_JUDGED_CHARS = 12_000

SYSTEM_PROMPT = (
    "You are an impartial judge comparing two answers, A and B, to the same request. "
    "{rubric} Judge the content only: the order the answers are shown in means nothing, "
    "and neither does their length. Reply with exactly one word: A, B or TIE."
)
USER_PROMPT = (
    "<request>\n{request}\n</request>\n\n"
    "<answer_a>\n{a}\n</answer_a>\n\n"
    "<answer_b>\n{b}\n</answer_b>\n\n"
    "Which answer is better? Reply with one word: A, B or TIE."
)


class Verdict(StrEnum):
    """What one order's answer said, by letter (which side that is depends on the order)."""

    A = "A"
    B = "B"
    TIE = "TIE"


@dataclass(frozen=True, slots=True)
class _Failed:
    why: str


_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_FIRST_WORD = re.compile(
    r"^[\W_]*(?:(?:final\s+)?(?:answer|verdict|winner)(?:\s+is)?[\s:=*\-]*)?[\W_]*([A-Za-z]+)", re.IGNORECASE
)
_JSON_KEYS = ("winner", "verdict", "answer", "better")


def parse_verdict(text: str) -> Verdict | None:
    """A, B or TIE from a judge's answer: its first word (case-insensitive, "Answer: B" and "**A**"
    included) or a JSON object's `winner`; None when it is neither.

    A reasoning model's `<think>…</think>` preamble is skipped: the verdict follows it.
    """
    text = _THINK.sub("", text).strip()
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        try:
            data = json.loads(text[start : end + 1])
        except ValueError:
            data = None
        if isinstance(data, dict):
            lowered = {str(k).lower(): v for k, v in data.items()}
            for key in _JSON_KEYS:
                if isinstance(lowered.get(key), str):
                    return _first_word(lowered[key])
            return None
    return _first_word(text)


def _first_word(text: str) -> Verdict | None:
    match = _FIRST_WORD.match(text)
    if match is None:
        return None
    try:
        return Verdict(match.group(1).upper())
    except ValueError:
        return None


def combine(production_first: Verdict, candidate_first: Verdict) -> Preference:
    """Both orders' verdicts → +1 (candidate both times), −1 (production both times), else 0 with why."""
    first_side = {Verdict.A: "production", Verdict.B: "candidate", Verdict.TIE: "tie"}[production_first]
    second_side = {Verdict.A: "candidate", Verdict.B: "production", Verdict.TIE: "tie"}[candidate_first]
    if first_side == second_side == "candidate":
        return Preference(1.0, "candidate preferred in both orders")
    if first_side == second_side == "production":
        return Preference(-1.0, "production preferred in both orders")
    if first_side == second_side == "tie":
        return Preference(0.0, "a tie in both orders")
    if production_first == candidate_first:
        return Preference(
            0.0,
            f"position bias: the judge answered {production_first.value} in both orders, whichever "
            "answer was there; counted as a tie",
        )
    return Preference(
        0.0,
        f"the orders disagree (production as A: {first_side}; candidate as A: {second_side}); "
        "counted as a tie",
    )


def chat_url(endpoint: str) -> str:
    """The chat completions URL for an endpoint given as a server root, a `/v1` base or the full path."""
    base = endpoint.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


def _cut(text: str) -> str:
    if len(text) <= MAX_JUDGED_CHARS:
        return text
    return text[:MAX_JUDGED_CHARS] + "\n[… cut for the judge]"


class LlmJudge:
    """The `PreferenceJudge` port over an OpenAI-compatible chat server.

    Pass a shared `client` (its owner closes it) or a `transport` for tests;
    otherwise the judge owns a client, closed by `aclose()` or `async with`.
    At most `config.concurrency` requests are in flight at once, across pairs
    and orders, so a report of 200 pairs does not flood the judge's server.
    """

    def __init__(
        self,
        config: JudgeConfig,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.url = chat_url(config.endpoint)
        self._owned = client is None
        self._client = client if client is not None else httpx.AsyncClient(transport=transport)
        self._gate = asyncio.Semaphore(config.concurrency)

    async def __aenter__(self) -> LlmJudge:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def prefer(self, request_text: str, production: str, candidate: str) -> Preference:
        """Both orders asked at once; a failure of either makes the pair unjudged, with why."""
        headers = self._headers()
        if isinstance(headers, _Failed):
            return Preference(None, headers.why)
        first, second = await asyncio.gather(
            self._ask(headers, request_text, production, candidate),
            self._ask(headers, request_text, candidate, production),
        )
        for order, answer in (("production as A", first), ("candidate as A", second)):
            if isinstance(answer, _Failed):
                return Preference(None, f"{order}: {answer.why}")
        assert isinstance(first, Verdict) and isinstance(second, Verdict)
        return combine(first, second)

    def _headers(self) -> dict[str, str] | _Failed:
        name = self.config.api_key_env
        if not name:
            return {}
        key = os.environ.get(name)
        if not key:
            return _Failed(f"the judge's API key variable {name} is not set in slipway's environment")
        return {"authorization": f"Bearer {key}"}

    def _body(self, request_text: str, a: str, b: str) -> dict[str, Any]:
        return {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT.format(rubric=self.config.rubric)},
                {
                    "role": "user",
                    "content": USER_PROMPT.format(request=_cut(request_text), a=_cut(a), b=_cut(b)),
                },
            ],
            "temperature": 0,
            "max_tokens": MAX_TOKENS,
            "stream": False,
        }

    async def _ask(self, headers: dict[str, str], request_text: str, a: str, b: str) -> Verdict | _Failed:
        timeout = self.config.timeout_s
        body = self._body(request_text, a, b)
        async with self._gate:
            try:
                async with asyncio.timeout(timeout):
                    resp = await self._client.post(
                        self.url, json=body, headers=headers, timeout=httpx.Timeout(timeout)
                    )
            except (TimeoutError, httpx.TimeoutException):
                return _Failed(f"the judge at {self.url} timed out after {timeout:g} s")
            except httpx.HTTPError as exc:
                return _Failed(f"the judge at {self.url} is unreachable: {type(exc).__name__}: {exc}")
        if resp.status_code >= 400:
            snippet = resp.text.strip().replace("\n", " ")[:200]
            return _Failed(f"the judge answered HTTP {resp.status_code}: {snippet}")
        try:
            content = resp.json()["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return _Failed(f"the judge's answer is not an OpenAI chat completion: {resp.text[:200]!r}")
        text = content if isinstance(content, str) else ""
        verdict = parse_verdict(text)
        if verdict is None:
            return _Failed(f"unparsable verdict {text.strip()[:80]!r} (asked for one word: A, B or TIE)")
        return verdict
