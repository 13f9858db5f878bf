"""VllmBackend against a PROTOCOL-FAITHFUL FAKE of vLLM (tests/fakes/vllm_protocol.py), not a real vLLM.

vLLM cannot run here. The fake reproduces the documented shapes of
`/v1/models`, `/v1/load_lora_adapter` and `/v1/unload_lora_adapter` (and
their errors), served by a real uvicorn on loopback; slipway talks to it
through the same SlotBackends the app uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from tests.fakes.vllm_protocol import create_vllm_protocol_fake
from tests.servers import run_asgi

from slipway.backends.factory import SlotBackends
from slipway.core.errors import BackendError, UpstreamStatusError
from slipway.core.types import BackendKind, Slot

BASE = "meta-llama/Llama-3.2-1B-Instruct"


@contextmanager
def fake_vllm(**options: Any) -> Iterator[str]:
    with run_asgi(create_vllm_protocol_fake(BASE, **options)) as url:
        yield url


def adapter_dir(root: Path, name: str) -> str:
    """A PEFT adapter directory, the form vLLM loads (`adapter_config.json` plus weights)."""
    path = root / name
    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (path / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    return str(path)


def vllm_slot(url: str, upstream: str | None = None, adapter: str | None = None) -> Slot:
    return Slot(
        name="green",
        endpoint=url,
        model="classifier",
        kind=BackendKind.VLLM,
        upstream_model=upstream,
        adapter=adapter,
    )


def test_the_fake_lists_adapters_as_the_official_openai_client_reads_them(tmp_path: Path) -> None:
    path = adapter_dir(tmp_path, "v2.1")
    with (
        fake_vllm(lora_modules={"classifier-v2.1": path}) as url,
        OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client,
    ):
        models = {m.id: m for m in client.models.list()}
        assert set(models) == {BASE, "classifier-v2.1"}
        extra = models["classifier-v2.1"].model_extra or {}
        assert (extra["parent"], extra["root"]) == (BASE, path)
        reply = client.chat.completions.create(
            model="classifier-v2.1", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "answer from classifier-v2.1"


async def test_check_base_and_adapter_slots(backends: SlotBackends, tmp_path: Path) -> None:
    path = adapter_dir(tmp_path, "v2.1")
    with fake_vllm(lora_modules={"classifier-v2.1": path}) as url:
        base = await backends.check(vllm_slot(url, upstream=BASE))
        assert base.ready and base.detail == f"serves base model {BASE!r}"
        assert base.memory_bytes is None

        adapter = await backends.check(vllm_slot(url, upstream="classifier-v2.1", adapter="v2.1"))
        assert adapter.ready
        assert adapter.detail == f"serves LoRA adapter 'classifier-v2.1' on base {BASE!r} from {path}"
        assert set(adapter.models) == {BASE, "classifier-v2.1"}

        missing = await backends.check(vllm_slot(url, upstream="classifier-v2.2", adapter="v2.2"))
        assert missing.reachable and not missing.ready
        assert "does not list 'classifier-v2.2'" in missing.detail
        assert "adapters: classifier-v2.1" in missing.detail
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in missing.detail

        # An adapter slot pointed at the base name would silently run without its adapter.
        wrong = await backends.check(vllm_slot(url, upstream=BASE, adapter="v2.2"))
        assert wrong.reachable and not wrong.ready
        assert "is a base model on this vLLM server, not a LoRA adapter" in wrong.detail


async def test_check_a_server_that_is_down(backends: SlotBackends) -> None:
    with fake_vllm() as url:
        pass
    health = await backends.check(vllm_slot(url, upstream=BASE))
    assert not health.reachable and not health.ready
    assert "unreachable" in health.detail


async def test_load_is_idempotent_and_selects_the_adapter_by_name(
    backends: SlotBackends, tmp_path: Path
) -> None:
    v21, v22 = adapter_dir(tmp_path, "v2.1"), adapter_dir(tmp_path, "v2.2")
    with fake_vllm() as url:
        slot = vllm_slot(url, upstream="classifier-v2.2", adapter="v2.2")
        assert not (await backends.check(slot)).ready
        assert await backends.vllm.load_adapter(slot, "classifier-v2.1", v21) == (
            f"loaded adapter 'classifier-v2.1' from {v21}"
        )
        assert await backends.vllm.load_adapter(slot, "classifier-v2.2", v22 + "/") == (
            f"loaded adapter 'classifier-v2.2' from {v22}/"
        )
        # Loading again is fine: vLLM would answer 400 "already been loaded"; slipway asks first.
        again = await backends.vllm.load_adapter(slot, "classifier-v2.2", v22)
        assert again == "adapter 'classifier-v2.2' was already loaded"
        assert (await backends.check(slot)).ready
        # Requests pick the version by model name.
        answer = await backends.complete(slot, {"messages": [{"role": "user", "content": "refund?"}]})
        assert answer == "answer from classifier-v2.2"
        v21_answer = await backends.complete(
            slot.with_changes(upstream_model="classifier-v2.1"), {"prompt": "refund?"}
        )
        assert v21_answer == "answer from classifier-v2.1"


async def test_a_name_is_never_reused_for_other_weights(backends: SlotBackends, tmp_path: Path) -> None:
    v21, v22 = adapter_dir(tmp_path, "v2.1"), adapter_dir(tmp_path, "v2.2")
    with fake_vllm(lora_modules={"classifier-v2": v21}) as url:
        slot = vllm_slot(url)
        with pytest.raises(BackendError) as caught:
            await backends.vllm.load_adapter(slot, "classifier-v2", v22)
        assert f"already serves adapter 'classifier-v2' from {v21}, not {v22}" in caught.value.message
        assert "its own name" in (caught.value.hint or "")
        with pytest.raises(BackendError, match="is a base model"):
            await backends.vllm.load_adapter(slot, BASE, v22)


async def test_runtime_updating_off_names_the_variable(backends: SlotBackends, tmp_path: Path) -> None:
    path = adapter_dir(tmp_path, "v2.2")
    with fake_vllm(runtime_lora_updating=False) as url:
        slot = vllm_slot(url)
        with pytest.raises(UpstreamStatusError) as caught:
            await backends.vllm.load_adapter(slot, "classifier-v2.2", path)
        assert caught.value.status == 404
        assert "does not allow loading adapters at run time" in caught.value.message
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in (caught.value.hint or "")
        with pytest.raises(UpstreamStatusError) as unload:
            await backends.vllm.unload_adapter(slot, "classifier-v2.2")
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in (unload.value.hint or "")


async def test_load_errors_carry_vllms_message_and_a_hint(backends: SlotBackends, tmp_path: Path) -> None:
    with fake_vllm(enable_lora=False) as url:
        with pytest.raises(UpstreamStatusError) as caught:
            await backends.vllm.load_adapter(vllm_slot(url), "classifier-v2.2", adapter_dir(tmp_path, "a"))
        assert caught.value.status == 500
        assert "LoRA is not enabled" in caught.value.message
        assert "--enable-lora" in (caught.value.hint or "")
    with fake_vllm() as url:
        nowhere = str(tmp_path / "not-there")
        with pytest.raises(UpstreamStatusError) as caught:
            await backends.vllm.load_adapter(vllm_slot(url), "classifier-v2.2", nowhere)
        assert caught.value.status == 404
        assert f"No adapter found for {nowhere}" in caught.value.message
        assert "on its own machine" in (caught.value.hint or "")


async def test_unload(backends: SlotBackends, tmp_path: Path) -> None:
    with fake_vllm(lora_modules={"classifier-v2.1": adapter_dir(tmp_path, "v2.1")}) as url:
        slot = vllm_slot(url)
        assert await backends.vllm.unload_adapter(slot, "classifier-v2.1") is True
        assert await backends.vllm.unload_adapter(slot, "classifier-v2.1") is False
        assert [m.id for m in await backends.vllm.models(slot)] == [BASE]


async def test_the_fake_answers_vllms_error_shapes() -> None:
    # The shapes slipway parses, checked at the wire.
    with fake_vllm() as url:
        async with httpx.AsyncClient(base_url=url) as client:
            resp = await client.post("/v1/load_lora_adapter", json={"lora_name": "x"})
            assert resp.status_code == 400
            assert resp.json()["error"] == {
                "message": "Both 'lora_name' and 'lora_path' must be provided.",
                "type": "InvalidUserInput",
                "param": None,
                "code": 400,
            }
            resp = await client.post("/v1/unload_lora_adapter", json={"lora_name": "x"})
            assert (resp.status_code, resp.json()["error"]["type"]) == (404, "NotFoundError")
    with fake_vllm(runtime_lora_updating=False) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            resp = await client.post("/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": "/x"})
            assert (resp.status_code, resp.json()) == (404, {"detail": "Not Found"})
