"""The tiny classifier on a real vLLM: adapters loaded at run time answer with labels, the base does not.

This pins what every other test here builds on: the model the project's
builder trains is one vLLM loads, the adapters load through vLLM's runtime
endpoints, and greedy answers are one label word that tells the models apart.
"""

from __future__ import annotations

import httpx
from tests.vllm_server import BASE_NAME, VllmServer

from slipway.demo.tickets import held_out_tickets, parse_intent
from slipway.demo.tiny_hf import BASE_ANSWER, TinyHfModel


def complete(url: str, model: str, prompt: str) -> str:
    r = httpx.post(
        f"{url}/v1/completions",
        json={"model": model, "prompt": prompt, "max_tokens": 4, "temperature": 0},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    text: str = r.json()["choices"][0]["text"]
    return text


def test_the_builder_measured_what_the_story_needs(tiny_hf: TinyHfModel) -> None:
    report = tiny_hf.report
    assert report["base"]["answers"] == {BASE_ANSWER: 200}
    assert report["v2.1"]["overall"] >= 0.95
    assert report["v2.2"]["per_label"]["billing"] <= 0.8
    assert all(report["v2.2"]["per_label"][k] >= 0.95 for k in ("account", "shipping", "technical"))


def test_adapters_loaded_at_run_time_answer_one_label_and_the_base_answers_none(vllm: VllmServer) -> None:
    server = vllm
    for version in ("v2.1", "v2.2"):
        r = httpx.post(
            f"{server.url}/v1/load_lora_adapter",
            json={"lora_name": f"tiny-{version}", "lora_path": str(server.adapter(version))},
            timeout=60,
        )
        assert r.status_code == 200, r.text
    tickets = [t for t in held_out_tickets(40) if t.intent == "billing"]
    base = {complete(server.url, BASE_NAME, t.prompt) for t in tickets}
    v21 = [parse_intent(complete(server.url, "tiny-v2.1", t.prompt)) for t in tickets]
    v22 = [parse_intent(complete(server.url, "tiny-v2.2", t.prompt)) for t in tickets]
    assert base == {f" {BASE_ANSWER}"}
    assert v21.count("billing") >= len(tickets) - 1, v21
    assert v22.count("shipping") >= 2, v22
    assert set(v22) <= {"billing", "shipping"}, v22
