"""One bad record must not stop the recording of every later request (PostgreSQL, a live gateway).

Found from outside: a 201-character category made PostgreSQL refuse a batch
(`value too long for type character varying(200)`), the record writer died
silently, 91 % of later records were lost with `write_failures` at 0, and
`POST /v1/feedback` and `GET /admin/requests/{id}` hung. The gateway now
refuses such categories itself, so here the bad values come the two ways
they still can: a record handed to the recorder directly, and a backend
whose answer holds a NUL character (which PostgreSQL text cannot store).
"""

from __future__ import annotations

import json
import signal
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.harness import live_gateway
from tests.pg import fresh_schema
from tests.processes import slipway_serve
from tests.servers import run_asgi

from slipway.core.records import RequestRecord

pytestmark = pytest.mark.postgres

#: Generous: a hung call fails the test instead of hanging it; nothing is judged on speed.
HTTP = httpx.Timeout(60.0)


async def odd_backend(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An OpenAI-style server whose answer to a prompt containing "nul" has a NUL character in it."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/v1/models":
        payload: dict[str, Any] = {"object": "list", "data": [{"id": "odd", "object": "model"}]}
    else:
        prompt = json.loads(body)["messages"][-1]["content"]
        answer = "billing\x00 and more" if "nul" in prompt else "billing"
        payload = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "odd",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }  # fmt: skip
    data = json.dumps(payload).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": data})


@pytest.fixture
def backend_url() -> Iterator[str]:
    with run_asgi(odd_backend, lifespan="off") as url:
        yield url


@pytest.fixture
def pg_store_url(postgres_url: str) -> Iterator[str]:
    with fresh_schema(postgres_url) as url:
        yield url


def config(backend_url: str) -> str:
    return textwrap.dedent(
        f"""\
        name: odd
        active_slot: blue
        slots:
          blue: {{model: odd, endpoint: "{backend_url}", kind: openai}}
        """
    )


def chat(url: str, prompt: str) -> str:
    r = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "odd", "messages": [{"role": "user", "content": prompt}]},
        timeout=HTTP,
    )
    assert r.status_code == 200, r.text
    return r.headers["x-slipway-request-id"]


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=HTTP).text
    return {
        sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def assert_every_record_stored_and_feedback_answers(url: str, ids: list[str]) -> None:
    for rid in ids:
        got = httpx.get(f"{url}/admin/requests/{rid}", timeout=HTTP)
        assert got.status_code == 200, got.text
    fb = httpx.post(f"{url}/v1/feedback", json={"request_id": ids[-1], "satisfied": True}, timeout=HTTP)
    assert fb.status_code == 200, fb.text


def test_a_refused_record_is_fitted_and_every_later_request_is_still_recorded(
    tmp_path: Path, backend_url: str, pg_store_url: str
) -> None:
    with live_gateway(tmp_path, config(backend_url), store_url=pg_store_url) as gw:
        first = chat(gw.url, "hello")
        assert gw.runtime.recorder is not None
        template = RequestRecord(
            request_id="x" * 32, started_at=0.0, slot="blue", version="odd", api="openai.chat",
            stream=False, route_version=1, status=200,
        )  # fmt: skip
        gw.runtime.recorder.record(replace(template, request_id="long-category", category="c" * 201))
        nul = chat(gw.url, "nul please")
        later = [chat(gw.url, f"refund {i}") for i in range(30)]

        assert_every_record_stored_and_feedback_answers(gw.url, [first, nul, *later])
        stored = httpx.get(f"{gw.url}/admin/requests/long-category", timeout=HTTP).json()["request"]
        assert stored["category"] == "c" * 200
        head = httpx.get(f"{gw.url}/admin/requests/{nul}", timeout=HTTP).json()["request"]["output_head"]
        assert head == "billing and more"

        recorder = httpx.get(f"{gw.url}/admin/status", timeout=HTTP).json()["recorder"]
        assert recorder["alive"] and recorder["sanitised"] == 2 and recorder["lost"] == {}
        assert "character varying(200)" in recorder["last_error"] or "NUL" in recorder["last_error"]
        ready = httpx.get(f"{gw.url}/readyz", timeout=HTTP)
        assert (ready.status_code, ready.json()) == (200, {"ready": True, "reasons": []})
        m = scrape(gw.url)
        assert m["slipway_recorder_sanitised_records_total{}"] == 2
        assert m['slipway_recorder_lost_records_total{"reason": "refused_by_store"}'] == 0
        assert m["slipway_recorder_up{}"] == 1


def test_slipway_serve_on_postgresql_records_every_request_after_a_refused_one_and_stops_cleanly(
    tmp_path: Path, backend_url: str, pg_store_url: str
) -> None:
    (tmp_path / "slipway.yaml").write_text(config(backend_url))
    with slipway_serve(tmp_path, ["--config", "slipway.yaml", "--store", pg_store_url]) as served:
        nul = chat(served.url, "nul please")
        later = [chat(served.url, f"refund {i}") for i in range(30)]

        assert_every_record_stored_and_feedback_answers(served.url, [nul, *later])
        m = scrape(served.url)
        assert m["slipway_recorder_sanitised_records_total{}"] == 1
        assert m['slipway_recorder_records_total{"outcome": "written"}'] == 31
        assert m["slipway_recorder_up{}"] == 1
        assert httpx.get(f"{served.url}/readyz", timeout=HTTP).status_code == 200

        served.proc.send_signal(signal.SIGTERM)
        code = served.proc.wait(60)
        log = served.log()
    assert code == 0, log
    assert "output_head: NUL characters removed" in log
