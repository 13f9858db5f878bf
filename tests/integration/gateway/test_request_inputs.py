"""What each request asked is kept with its record, for every client API, and not at all when switched off.

Real parts: slipway on loopback with its SQLite store, sim backends, the
official `openai` and `ollama` clients; the inputs are read back through the
admin API (`GET /admin/requests/{id}`), as an operator would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
from tests.harness import Gateway, live_gateway, routing_yaml


class Ids:
    """Collects the X-Slipway-Request-Id of every answer a client gets (the ollama client hides headers)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, response: httpx.Response) -> None:
        rid = response.headers.get("x-slipway-request-id")
        if rid:
            self.seen.append(rid)


def asked(gw: Gateway, request_id: str) -> dict[str, Any] | None:
    r = httpx.get(f"{gw.url}/admin/requests/{request_id}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] | None = r.json()["input"]
    return found


def send_every_api(gw: Gateway) -> list[str]:
    """Through openai: a chat, a streamed chat, a completion; through ollama: a chat and a generate.

    Returns the request ids in that order.
    """
    ol_ids = Ids()
    oa = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused")
    ol = ollama.Client(host=gw.url, event_hooks={"response": [ol_ids]})
    gw.closers += [oa.close, ol.close]
    chat = oa.chat.completions.with_raw_response.create(
        model="customer-support",
        messages=[
            {"role": "system", "content": "You sort support tickets."},
            {"role": "user", "content": "I was charged twice for invoice 4411"},
            {"role": "assistant", "content": "billing"},
            {"role": "user", "content": [{"type": "text", "text": "and the refund?"}]},
        ],
    )
    streamed = oa.chat.completions.with_raw_response.create(
        model="customer-support", messages=[{"role": "user", "content": "where is my parcel"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
    completion = oa.completions.with_raw_response.create(
        model="customer-support", prompt="ticket: refund please intent:"
    )
    assert completion.parse().choices[0].text
    ol.chat(model="customer-support", messages=[{"role": "user", "content": "refund my invoice"}])
    ol.generate(model="customer-support", prompt="parcel late")
    assert len(ol_ids.seen) == 2
    return [r.headers["x-slipway-request-id"] for r in (chat, streamed, completion)] + ol_ids.seen


def test_each_api_keeps_its_input_text_turns_and_body(tmp_path: Path, blue_url: str, green_url: str) -> None:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        chat, streamed, completion, ollama_chat, generate = (asked(gw, rid) for rid in send_every_api(gw))

    assert chat is not None and chat["turns"] == 2
    assert chat["input_text"] == (
        "You sort support tickets.\nI was charged twice for invoice 4411\nbilling\nand the refund?"
    )
    assert chat["request"]["messages"][1]["content"] == "I was charged twice for invoice 4411"
    assert streamed is not None and (streamed["input_text"], streamed["turns"]) == ("where is my parcel", 1)
    assert streamed["request"]["stream"] is True
    assert completion is not None and completion["input_text"] == "ticket: refund please intent:"
    assert ollama_chat is not None and (ollama_chat["input_text"], ollama_chat["turns"]) == (
        "refund my invoice",
        1,
    )
    assert generate is not None and generate["input_text"] == "parcel late"
    assert generate["request"]["prompt"] == "parcel late"


def test_a_long_input_is_cut_and_a_large_body_is_not_kept(
    tmp_path: Path, blue_url: str, green_url: str
) -> None:
    config = routing_yaml(blue_url, green_url, extra="gateway: {input_max_chars: 500}\n")
    with live_gateway(tmp_path, config) as gw:
        small = httpx.post(
            f"{gw.url}/v1/completions", json={"model": "m", "prompt": "x" * 2_000, "max_tokens": 4}
        )
        large = httpx.post(
            f"{gw.url}/v1/completions", json={"model": "m", "prompt": "y" * 20_000, "max_tokens": 4}
        )
        kept_small = asked(gw, small.headers["x-slipway-request-id"])
        kept_large = asked(gw, large.headers["x-slipway-request-id"])
    assert kept_small is not None and kept_small["input_text"] == "x" * 500
    assert kept_small["request"]["prompt"] == "x" * 2_000, "a body within 16 KiB is kept whole"
    assert kept_large is not None and kept_large["input_text"] == "y" * 500 and kept_large["request"] is None


def test_record_inputs_false_keeps_the_records_and_no_input(
    tmp_path: Path, blue_url: str, green_url: str
) -> None:
    config = routing_yaml(blue_url, green_url, extra="gateway: {record_inputs: false}\n")
    with live_gateway(tmp_path, config) as gw:
        answers = [httpx.get(f"{gw.url}/admin/requests/{rid}").json() for rid in send_every_api(gw)]
    assert len(answers) == 5
    assert all(a["request"]["status"] == 200 and a["input"] is None for a in answers), answers


def test_a_reload_turns_keeping_inputs_off_for_the_next_request(
    tmp_path: Path, blue_url: str, green_url: str
) -> None:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url), watch=False) as gw:
        body = {"model": "m", "messages": [{"role": "user", "content": "refund my invoice"}]}
        before = httpx.post(f"{gw.url}/v1/chat/completions", json=body)
        gw.config_path.write_text(
            routing_yaml(blue_url, green_url, extra="gateway: {record_inputs: false}\n")
        )
        assert httpx.post(f"{gw.url}/admin/reload", json={}).status_code == 200
        after = httpx.post(f"{gw.url}/v1/chat/completions", json=body)
        kept = asked(gw, before.headers["x-slipway-request-id"])
        not_kept = asked(gw, after.headers["x-slipway-request-id"])
    assert kept is not None and kept["input_text"] == "refund my invoice"
    assert not_kept is None
