"""Given steps shared by the gateway tests on a real vLLM: adapters under a test's own names, a config.

The session's vLLM is shared, so every test names its adapters with its own
prefix: what one test loads or unloads is never what another one expects.
"""

from __future__ import annotations

import json
import textwrap

import httpx
from tests.vllm_server import VllmServer

from slipway.demo.tickets import Ticket, held_out_tickets


def load_adapter(server: VllmServer, name: str, version: str) -> None:
    """What an operator does once when vLLM serves production: load its adapter at run time."""
    r = httpx.post(
        f"{server.url}/v1/load_lora_adapter",
        json={"lora_name": name, "lora_path": str(server.adapter(version))},
        timeout=60,
    )
    assert r.status_code == 200, r.text


def listed(server: VllmServer) -> dict[str, str | None]:
    """What vLLM serves now: model name -> the path it was loaded from."""
    data = httpx.get(f"{server.url}/v1/models", timeout=30).json()["data"]
    return {str(m["id"]): m.get("root") for m in data}


def routing(server: VllmServer, prefix: str, *, extra: str = "") -> str:
    """Blue serves `<prefix>-v2.1` (loaded), green is its twin until a deploy restages it."""
    v21 = server.adapter("v2.1")
    return textwrap.dedent(
        f"""\
        name: customer-support
        active_slot: blue
        slots:
          blue: {{model: {prefix}-v2.1, endpoint: "{server.url}", kind: vllm, adapter: "{v21}"}}
          green: {{model: {prefix}-v2.1, endpoint: "{server.url}", kind: vllm, adapter: "{v21}"}}
        """
    ) + textwrap.dedent(extra)


def direct(server: VllmServer, model: str, prompt: str) -> str:
    """What vLLM itself answers for `model`: the ground truth an answer through slipway must match."""
    r = httpx.post(
        f"{server.url}/v1/completions",
        json={"model": model, "prompt": prompt, "max_tokens": 4, "temperature": 0},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    text: str = r.json()["choices"][0]["text"]
    return text


def refund_tickets(n: int) -> list[Ticket]:
    """Billing tickets about refunds: v2.1 files them under billing, v2.2 (its data mislabelled) shipping."""
    return [t for t in held_out_tickets(400, seed=7) if t.pattern == "refund"][:n]


def smoke_jsonl(tickets: list[Ticket]) -> str:
    """Each ticket must get exactly one label word: the smoke test runs on the real candidate."""
    return "".join(
        json.dumps(
            {
                "id": f"ticket-{i}",
                "completion": t.prompt,
                "max_tokens": 4,
                "expect": {"regex": r"^\s*(billing|account|shipping|technical)\s*$"},
            }
        )
        + "\n"
        for i, t in enumerate(tickets)
    )
