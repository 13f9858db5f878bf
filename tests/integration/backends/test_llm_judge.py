"""LlmJudge over real HTTP on loopback: a FAKE judge (tests/fakes/judge_protocol.py) and llama-server.

The fake runs no model; it answers from the prompt's content so each test
knows what a correct client must conclude: a content-following judge gives
+1/−1, a position-following one a tie, garbage, a hang or a 500 an unjudged
pair with the reason. The last test asks the real llama-server running the
tiny GGUF model, which is no judge at all: it must not break the client.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.judge_protocol import FakeJudge
from tests.servers import run_asgi

from slipway.backends.llm_judge import LlmJudge, Verdict, chat_url, combine, parse_verdict
from slipway.core.judging import judge_many
from slipway.core.ports import PreferenceJudge
from slipway.core.shadow import Preference
from slipway.core.shadow_config import JudgeConfig

REQUEST = "Customer: I was charged twice for my order, what now?"
WITH_KEYWORD = "I have issued a refund for the duplicate charge; it arrives in 3-5 days."
WITHOUT_KEYWORD = "Please check the tracking page for your parcel."


@contextmanager
def fake_judge(behaviour: str, **options: Any) -> Iterator[tuple[FakeJudge, str]]:
    fake = FakeJudge(behaviour, **options)
    with run_asgi(fake.app) as url:
        yield fake, url


def config(url: str, **options: Any) -> JudgeConfig:
    return JudgeConfig(endpoint=url, model="judge-model", **options)


def user_prompt(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


@pytest.mark.parametrize(
    ("production", "candidate", "score", "detail"),
    [
        (WITHOUT_KEYWORD, WITH_KEYWORD, 1.0, "candidate preferred in both orders"),
        (WITH_KEYWORD, WITHOUT_KEYWORD, -1.0, "production preferred in both orders"),
        (WITHOUT_KEYWORD, WITHOUT_KEYWORD + " Thanks!", 0.0, "a tie in both orders"),
    ],
)
@pytest.mark.parametrize("behaviour", ["keyword", "keyword-json"])
async def test_a_content_judge_asked_in_both_orders(
    behaviour: str, production: str, candidate: str, score: float, detail: str
) -> None:
    with fake_judge(behaviour) as (fake, url):
        async with LlmJudge(config(url)) as judge:
            pref = await judge.prefer(REQUEST, production, candidate)
    assert pref == Preference(score, detail)
    assert len(fake.requests) == 2
    prompts = sorted(user_prompt(body) for body in fake.requests)
    a_is_production = [p for p in prompts if p.index(production) < p.index(candidate)]
    assert len(a_is_production) == 1, "one order shows production as A, the other the candidate"
    for body in fake.requests:
        assert body["model"] == "judge-model"
        assert body["temperature"] == 0
        assert 0 < body["max_tokens"] <= 16
        assert REQUEST in user_prompt(body)
        assert "correct, complete" in body["messages"][0]["content"], "the rubric is in the system prompt"


async def test_a_position_biased_judge_scores_zero_and_says_so() -> None:
    with fake_judge("always-a") as (_, url):
        async with LlmJudge(config(url)) as judge:
            pref = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
    assert pref.score == 0.0
    assert "position bias" in pref.detail


async def test_garbage_is_no_verdict() -> None:
    with fake_judge("garbage") as (_, url):
        async with LlmJudge(config(url)) as judge:
            pref = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
    assert pref.score is None
    assert "unparsable verdict" in pref.detail and "merits" in pref.detail


async def test_a_judge_that_hangs_times_out() -> None:
    with fake_judge("slow") as (_, url):
        async with LlmJudge(config(url, timeout_s=0.3)) as judge:
            pref = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
    assert pref.score is None
    assert "timed out after 0.3 s" in pref.detail


async def test_a_server_error_is_no_verdict() -> None:
    with fake_judge("error-500") as (_, url):
        async with LlmJudge(config(url)) as judge:
            pref = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
    assert pref.score is None
    assert "HTTP 500" in pref.detail and "server had an error" in pref.detail


async def test_an_unreachable_judge_is_no_verdict() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with LlmJudge(config(f"http://127.0.0.1:{port}", timeout_s=5)) as judge:
            pref = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
    assert pref.score is None
    assert "unreachable" in pref.detail


async def test_the_api_key_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-test-123")
    with fake_judge("keyword", api_key="sk-test-123") as (fake, url):
        async with LlmJudge(config(url, api_key_env="JUDGE_TEST_KEY")) as judge:
            pref = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
        assert pref.score == 1.0
        assert all(h.get("authorization") == "Bearer sk-test-123" for h in fake.headers)

        monkeypatch.setenv("JUDGE_TEST_KEY", "sk-wrong")
        async with LlmJudge(config(url, api_key_env="JUDGE_TEST_KEY")) as judge:
            refused = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
        assert refused.score is None and "HTTP 401" in refused.detail

        monkeypatch.delenv("JUDGE_TEST_KEY")
        asked = len(fake.requests)
        async with LlmJudge(config(url, api_key_env="JUDGE_TEST_KEY")) as judge:
            missing = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
        assert missing.score is None and "JUDGE_TEST_KEY is not set" in missing.detail
        assert len(fake.requests) == asked, "no request goes out without the key"


async def test_concurrency_is_bounded_across_pairs_and_orders() -> None:
    items = [
        (f"p{i}", REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD if i % 2 else WITHOUT_KEYWORD + "!")
        for i in range(6)
    ]
    with fake_judge("keyword", delay_s=0.1) as (fake, url):
        async with LlmJudge(config(url, concurrency=2)) as judge:
            results = await judge_many(judge, items)
    assert fake.max_in_flight == 2
    assert len(fake.requests) == 12
    assert [results[f"p{i}"].score for i in range(6)] == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]


class ExplodesOn:
    """A judge that raises on one request text and asks the real judge otherwise."""

    def __init__(self, inner: PreferenceJudge, bad_text: str) -> None:
        self.inner = inner
        self.bad_text = bad_text

    async def prefer(self, request_text: str, production: str, candidate: str) -> Preference:
        if request_text == self.bad_text:
            raise RuntimeError("connection pool exploded")
        return await self.inner.prefer(request_text, production, candidate)


async def test_judge_many_never_raises_on_one_bad_pair() -> None:
    items = [
        ("good-1", REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD),
        ("bad", "boom", WITHOUT_KEYWORD, WITH_KEYWORD),
        ("good-2", REQUEST, WITH_KEYWORD, WITHOUT_KEYWORD),
        ("good-1", REQUEST, WITH_KEYWORD, WITHOUT_KEYWORD),  # a repeated id is judged once, first wins
    ]
    with fake_judge("keyword") as (fake, url):
        async with LlmJudge(config(url)) as judge:
            results = await judge_many(ExplodesOn(judge, "boom"), items, limit=2)
    assert list(results) == ["good-1", "bad", "good-2"]
    assert results["good-1"].score == 1.0
    assert results["good-2"].score == -1.0
    assert results["bad"].score is None
    assert "RuntimeError: connection pool exploded" in results["bad"].detail
    assert len(fake.requests) == 4


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("A", Verdict.A),
        ("b", Verdict.B),
        ("Tie.", Verdict.TIE),
        ("**B**", Verdict.B),
        ("Answer: A", Verdict.A),
        ("The winner is B", None),
        ("Verdict - TIE", Verdict.TIE),
        ('{"winner": "B"}', Verdict.B),
        ('```json\n{"Winner": "tie"}\n```', Verdict.TIE),
        ('{"reason": "B is clearer"}', None),
        ("<think>A looks wrong, B is right</think>\nB", Verdict.B),
        ("<think>still thinking about A", None),
        ("billing", None),
        ("", None),
        ("Answer", None),
    ],
)
def test_parse_verdict(text: str, verdict: Verdict | None) -> None:
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize(
    ("first", "second", "score"),
    [
        (Verdict.B, Verdict.A, 1.0),
        (Verdict.A, Verdict.B, -1.0),
        (Verdict.TIE, Verdict.TIE, 0.0),
        (Verdict.A, Verdict.A, 0.0),
        (Verdict.B, Verdict.B, 0.0),
        (Verdict.TIE, Verdict.A, 0.0),
        (Verdict.B, Verdict.TIE, 0.0),
    ],
)
def test_combine_counts_only_agreeing_orders(first: Verdict, second: Verdict, score: float) -> None:
    pref = combine(first, second)
    assert pref.score == score
    assert pref.detail
    assert ("position bias" in pref.detail) == (first == second and first is not Verdict.TIE)


@pytest.mark.parametrize(
    "endpoint",
    ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/", "http://h:1/v1/chat/completions"],
)
def test_chat_url(endpoint: str) -> None:
    assert chat_url(endpoint) == "http://h:1/v1/chat/completions"


# ------------------------------------------------------------------ the real llama-server


@pytest.mark.llama
async def test_the_tiny_llama_model_as_judge_does_not_break_the_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from slipway.backends.engine import LlamaServerProcess, find_llama_server, install_llama_server
    from slipway.demo.tiny_model import build_tiny_models

    binary = await asyncio.to_thread(lambda: find_llama_server() or install_llama_server())
    models = await asyncio.to_thread(build_tiny_models, tmp_path_factory.mktemp("models"), seed=0)
    logs: Path = tmp_path_factory.mktemp("logs")
    async with LlamaServerProcess(models.base, binary=binary, log_path=logs / "engine.log") as server:
        async with LlmJudge(config(server.base_url, timeout_s=30)) as judge:
            pref = await judge.prefer(REQUEST, WITHOUT_KEYWORD, WITH_KEYWORD)
    # A support-ticket classifier is no judge: it answers a label (billing, account, ...), never A/B/TIE.
    # The round trip through llama-server's chat endpoint works; the client refuses the non-verdict.
    assert isinstance(pref, Preference)
    assert pref.score is None
    assert "unparsable verdict" in pref.detail
