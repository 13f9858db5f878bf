"""The simulator on a real uvicorn on loopback, spoken to by the official `openai` client."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from tests.servers import run_asgi

from slipway.backends.sim import SimProfile, create_sim_app

REPO = Path(__file__).resolve().parents[3]
LABELS = ["billing", "account", "shipping", "technical"]
EXAMPLE = REPO / "examples" / "sim" / "support-classifier.yaml"
MESSAGES: Any = [{"role": "system", "content": "Classify the ticket."}, {"role": "user", "content": "hello"}]


def profile(categories: dict[str, Any] | None = None, **default: Any) -> SimProfile:
    return SimProfile.model_validate(
        {
            "model": "sim-classifier",
            "version": "v9-test",
            "default": {"labels": LABELS, **default},
            "categories": categories or {},
        }
    )


@contextmanager
def sim(categories: dict[str, Any] | None = None, **default: Any) -> Iterator[str]:
    with run_asgi(create_sim_app(profile(categories, **default), seed=1)) as base_url:
        yield base_url


def client(base_url: str, **options: Any) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key="sim", max_retries=0, **options)


def aclient(base_url: str, **options: Any) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sim", max_retries=0, **options)


def category(name: str) -> dict[str, Any]:
    return {"extra_headers": {"X-Slipway-Category": name}}


@pytest.fixture(scope="module")
def talker() -> Iterator[str]:
    """A sim that answers `label filler filler` after a short stream."""
    with sim(output_tokens=3, stream_interval_ms=1) as base_url:
        yield base_url


# --- the OpenAI surface ------------------------------------------------------------------------


def test_health_models_and_stats(talker: str) -> None:
    assert httpx.get(f"{talker}/health").json() == {"status": "ok"}
    with client(talker) as c:
        assert [m.id for m in c.models.list()] == ["sim-classifier"]
    stats = httpx.get(f"{talker}/sim/stats").json()
    assert (stats["model"], stats["version"], stats["seed"]) == ("sim-classifier", "v9-test", 1)


def test_chat_completion_parses_in_the_official_client(talker: str) -> None:
    with client(talker) as c:
        reply = c.chat.completions.create(model="anything", messages=MESSAGES, **category("billing"))
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    assert reply.model == "sim-classifier" and reply.system_fingerprint == "v9-test"
    choice = reply.choices[0]
    assert (choice.index, choice.finish_reason, choice.message.role) == (0, "stop", "assistant")
    assert choice.message.content is not None
    assert choice.message.content.split()[0] == "billing" and len(choice.message.content.split()) == 3
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (4, 3, 7)


def test_chat_stream_with_usage(talker: str) -> None:
    with client(talker) as c:
        stream = c.chat.completions.create(
            model="m",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **category("shipping"),
        )
        chunks = list(stream)
    assert all(ch.object == "chat.completion.chunk" and ch.id == chunks[0].id for ch in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text.split()[0] == "shipping" and len(text.split()) == 3
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    assert all(ch.usage is None for ch in chunks[:-1])


def test_chat_stream_without_usage_has_no_usage_chunk(talker: str) -> None:
    with client(talker) as c:
        chunks = list(c.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(ch.usage is None for ch in chunks)


async def test_completions_plain_and_streamed(talker: str) -> None:
    async with aclient(talker) as c:
        whole = await c.completions.create(model="m", prompt="ticket", **category("account"))
        stream = await c.completions.create(model="m", prompt="ticket", stream=True, **category("account"))
        pieces = [chunk async for chunk in stream]
    assert whole.object == "text_completion" and whole.choices[0].text.startswith("account ")
    assert whole.choices[0].finish_reason == "stop" and whole.usage is not None
    assert "".join(p.choices[0].text for p in pieces) == whole.choices[0].text
    assert pieces[-1].choices[0].finish_reason == "stop"


def test_max_tokens_cuts_with_finish_reason_length(talker: str) -> None:
    with client(talker) as c:
        reply = c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=1, **category("billing"))
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"not json", None),
        (b"[1, 2]", None),
        (b'{"messages": []}', "messages"),
        (b'{"model": "m"}', "messages"),
    ],
)
def test_bad_requests_get_openai_400s(talker: str, body: bytes, param: str | None) -> None:
    response = httpx.post(f"{talker}/v1/chat/completions", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["param"] == param


# --- declared behaviour, measured --------------------------------------------------------------


async def test_accuracy_over_500_requests_is_as_declared() -> None:
    with sim({"billing": {"accuracy": 0.8}}) as base_url:
        async with aclient(base_url) as c:
            gate = asyncio.Semaphore(50)

            async def ask() -> str:
                async with gate:
                    reply = await c.chat.completions.create(
                        model="m", messages=MESSAGES, **category("billing")
                    )
                return reply.choices[0].message.content or ""

            answers = Counter(await asyncio.gather(*(ask() for _ in range(500))))
        stats = httpx.get(f"{base_url}/sim/stats").json()["categories"]["billing"]
    assert answers["billing"] / 500 == pytest.approx(0.8, abs=0.06)
    assert set(answers) == set(LABELS)
    assert stats == {"requests": 500, "answered": 500, "correct": answers["billing"], "errors": {}}


async def test_error_injection_rate_and_body() -> None:
    with sim({"technical": {"error_rate": 0.2, "error_mode": 503}}) as base_url:
        async with aclient(base_url) as c:
            gate = asyncio.Semaphore(50)

            async def ask() -> int:
                async with gate:
                    try:
                        await c.chat.completions.create(model="m", messages=MESSAGES, **category("technical"))
                    except openai.APIStatusError as exc:
                        assert isinstance(exc.body, dict) and exc.body["type"] == "server_error"
                        return exc.status_code
                return 200

            statuses = Counter(await asyncio.gather(*(ask() for _ in range(500))))
        stats = httpx.get(f"{base_url}/sim/stats").json()
    assert set(statuses) == {200, 503}
    assert statuses[503] / 500 == pytest.approx(0.2, abs=0.06)
    assert stats["errors"] == statuses[503]
    assert stats["categories"]["technical"]["errors"] == {"503": statuses[503]}


@pytest.mark.parametrize(
    ("mode", "error", "code"),
    [(429, openai.RateLimitError, "rate_limit_exceeded"), (500, openai.InternalServerError, None)],
)
def test_status_errors_map_to_the_client_exceptions(
    mode: int, error: type[Exception], code: str | None
) -> None:
    with sim(error_rate=1.0, error_mode=mode) as base_url, client(base_url) as c:
        with pytest.raises(error) as caught:
            c.chat.completions.create(model="m", messages=MESSAGES)
    assert isinstance(caught.value, openai.APIStatusError) and caught.value.code == code


async def test_latency_p50_and_p95_as_declared() -> None:
    with sim(latency_ms={"dist": "lognormal", "p50": 80, "p95": 160}) as base_url:
        async with aclient(base_url) as c:
            # Client and server share this process's GIL: modest concurrency keeps queueing out of it.
            gate = asyncio.Semaphore(10)

            async def timed() -> float:
                async with gate:
                    t0 = time.perf_counter()
                    await c.chat.completions.create(model="m", messages=MESSAGES)
                    return (time.perf_counter() - t0) * 1000

            await timed()  # the first request pays for the connection
            took = np.array(await asyncio.gather(*(timed() for _ in range(300))))
    # The server really waits what it drew (the draws' percentiles are checked exactly in the unit
    # tests); a busy machine only adds to what the client measures, so only lower bounds hold here.
    assert np.percentile(took, 50) >= 70
    assert np.percentile(took, 95) >= 125


def test_stream_pacing_ttft_then_interval() -> None:
    with sim(ttft_ms=60, output_tokens=5, stream_interval_ms=25) as base_url, client(base_url) as c:
        t0 = time.perf_counter()
        stream = c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        arrivals = [time.perf_counter() - t0 for ch in stream if ch.choices and ch.choices[0].delta.content]
    assert len(arrivals) == 5
    # Only what a busy machine cannot break: the server never sends sooner than its pacing allows
    # (a stalled client can see two tokens in one read, so gaps and upper bounds prove nothing).
    assert arrivals[0] >= 0.055
    assert arrivals[-1] >= 0.06 + 4 * 0.025 - 0.005


# --- failures a gateway must survive -----------------------------------------------------------


def test_disconnect_mid_stream_cuts_after_half_the_tokens() -> None:
    with sim(error_rate=1.0, error_mode="disconnect_mid_stream", output_tokens=6) as base_url:
        with client(base_url) as c:
            received: list[str] = []
            with pytest.raises(openai.APIConnectionError):
                for chunk in c.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                    received.append(chunk.choices[0].delta.content or "")
            with pytest.raises(openai.APIConnectionError):
                c.chat.completions.create(model="m", messages=MESSAGES)
        assert httpx.get(f"{base_url}/health").status_code == 200
        stats = httpx.get(f"{base_url}/sim/stats").json()
    assert len([r for r in received if r]) == 3
    assert stats["errors"] == 2


def test_timeout_hangs_until_the_client_gives_up() -> None:
    with sim(error_rate=1.0, error_mode="timeout", hang_s=60) as base_url:
        with client(base_url, timeout=0.3) as c:
            t0 = time.perf_counter()
            with pytest.raises(openai.APITimeoutError):
                c.chat.completions.create(model="m", messages=MESSAGES)
            assert time.perf_counter() - t0 >= 0.3
        assert httpx.get(f"{base_url}/health").status_code == 200


def test_a_bounded_hang_ends_in_a_504() -> None:
    with sim(error_rate=1.0, error_mode="timeout", hang_s=0.2) as base_url, client(base_url) as c:
        with pytest.raises(openai.APIStatusError) as caught:
            c.chat.completions.create(model="m", messages=MESSAGES)
    assert caught.value.status_code == 504


# --- how the sim learns the category -----------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "headers", "expected"),
    [
        ("I want a refund for invoice 42", {}, "billing"),
        ("Reset my PASSWORD please", {}, "account"),
        ("I was refunded twice", {}, "default"),
        ("I want a refund", {"X-Slipway-Category": "shipping"}, "shipping"),
    ],
)
def test_category_from_header_then_keywords_then_default(
    prompt: str, headers: dict[str, str], expected: str
) -> None:
    categories = {"billing": {"keywords": ["refund", "invoice"]}, "account": {"keywords": ["password"]}}
    with sim(categories) as base_url, client(base_url) as c:
        messages: Any = [
            {"role": "user", "content": "my password is fine"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": prompt}]},
        ]
        chat = c.chat.completions.with_raw_response.create(
            model="m", messages=messages, extra_headers=headers
        )
        legacy = c.completions.with_raw_response.create(model="m", prompt=prompt, extra_headers=headers)
    assert chat.headers["x-sim-category"] == expected
    assert legacy.headers["x-sim-category"] == expected
    if expected != "default":
        assert chat.parse().choices[0].message.content == expected


# --- the CLI, as a real process ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_cli_serves_a_profile_until_terminated() -> None:
    port = free_port()
    command = [sys.executable, "-m", "slipway.cli.sim", "serve", "--profile", str(EXAMPLE)]
    command += ["--port", str(port), "--seed", "3"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                assert proc.poll() is None, proc.communicate()[1].decode()
                try:
                    if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "slipway sim serve did not become healthy"
                time.sleep(0.05)
            with client(base_url) as c:
                reply = c.chat.completions.with_raw_response.create(
                    model="support-classifier",
                    messages=[{"role": "user", "content": "Where is my parcel?"}],
                )
            assert reply.headers["x-sim-category"] == "shipping"
            assert reply.parse().model == "support-classifier"
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why it ended.
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    assert b"support-classifier" in err


def test_cli_rejects_a_bad_profile_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\ndefault:\n  labels: [a, b]\n  acuracy: 0.5\n")
    command = [sys.executable, "-m", "slipway.cli.sim", "serve", "--profile", str(bad), "--port", "1"]
    done = subprocess.run(command, capture_output=True, timeout=30, check=False)
    assert done.returncode == 2
    assert f"{bad}:4: default.acuracy: unknown field" in done.stderr.decode()
