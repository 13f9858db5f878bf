"""Ollama adapter models against a PROTOCOL-FAITHFUL FAKE (tests/fakes/ollama_protocol.py), not Ollama.

Ollama cannot run here. The fake reproduces the documented shapes of
`/api/blobs`, `/api/create`, `/api/show`, `/api/tags`, `/api/ps` and
`/api/chat` (and their errors), and the runner behaviour of Ollama's
scheduler (one runner per base file, reloaded when the adapters differ),
served by a real uvicorn on loopback. The official `ollama` client is used
to check the fake speaks the protocol it expects.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ollama
import pytest
from tests.fakes.ollama_protocol import FakeOllamaState, create_ollama_protocol_fake
from tests.servers import run_asgi

from slipway.backends.factory import SlotBackends
from slipway.backends.ollama_adapters import file_digest
from slipway.core.colocation import ColocationAdvisor, ModelBuild
from slipway.core.errors import BackendError, UpstreamStatusError
from slipway.core.types import BackendKind, RouteTable, Slot

BASE = b"GGUF\x03\x00\x00\x00tiny classifier base"
OTHER_BASE = b"GGUF\x03\x00\x00\x00another base"
ASK: dict[str, Any] = {"messages": [{"role": "user", "content": "ticket: refund please intent:"}]}


@contextmanager
def fake_ollama(**options: Any) -> Iterator[tuple[str, FakeOllamaState]]:
    app = create_ollama_protocol_fake({"classifier-base": BASE, "other-base": OTHER_BASE}, **options)
    with run_asgi(app) as url:
        yield url, app.state.fake


def adapter_file(root: Path, name: str) -> Path:
    path = root / name
    path.write_bytes(b"GGUF\x03\x00\x00\x00lora " + name.encode())
    return path


def oslot(url: str, model: str, name: str = "green") -> Slot:
    return Slot(name=name, endpoint=url, model=model, kind=BackendKind.OLLAMA)


async def test_the_fake_speaks_to_the_official_ollama_client(tmp_path: Path) -> None:
    path = adapter_file(tmp_path, "v2.1-2026-01-15-1247examples.gguf")
    with fake_ollama() as (url, _fake):
        async with ollama.AsyncClient(host=url) as client:
            digest = await client.create_blob(path)
            progress = await client.create(
                model="classifier-v2.1", from_="classifier-base", adapters={path.name: digest}, stream=True
            )
            assert [p.status async for p in progress][-1] == "success"
            shown = await client.show("classifier-v2.1")
            assert f"ADAPTER /root/.ollama/models/blobs/{digest.replace(':', '-')}" in (shown.modelfile or "")
            await client.chat(model="classifier-v2.1", messages=[{"role": "user", "content": "hi"}])
            running = await client.ps()
            assert [m.model for m in running.models] == ["classifier-v2.1:latest"]
            assert running.models[0].size == 123_456_789
            with pytest.raises(ollama.ResponseError, match="pull model manifest"):
                async for _ in await client.create(model="x", from_="nowhere", stream=True):
                    pass


async def test_push_blob_asks_before_it_uploads(backends: SlotBackends, tmp_path: Path) -> None:
    path = adapter_file(tmp_path, "v2.2.gguf")
    with fake_ollama() as (url, fake):
        slot = oslot(url, "classifier-base")
        digest = await backends.ollama.push_blob(slot, path)
        assert digest in fake.blobs and fake.blobs[digest] == path.read_bytes()
        assert await backends.ollama.push_blob(slot, path) == digest
        blob_calls = [method for method, p in fake.calls if p.startswith("/api/blobs/")]
        assert blob_calls == ["HEAD", "POST", "HEAD"]


async def test_push_blob_digest_mismatch_is_a_clear_error(backends: SlotBackends, tmp_path: Path) -> None:
    path = adapter_file(tmp_path, "v2.2.gguf")
    wrong = "sha256:" + "0" * 64
    with fake_ollama() as (url, _fake):
        with pytest.raises(UpstreamStatusError) as caught:
            await backends.ollama.push_blob(oslot(url, "classifier-base"), path, digest=wrong)
    assert caught.value.status == 400
    assert "digest mismatch" in caught.value.message and "v2.2.gguf" in caught.value.message
    assert "upload again" in (caught.value.hint or "")


async def test_create_with_adapter_then_check(backends: SlotBackends, tmp_path: Path) -> None:
    path = adapter_file(tmp_path, "v2.1-2026-01-15-1247examples.gguf")
    with fake_ollama() as (url, fake):
        slot = oslot(url, "classifier-v2.1")
        assert not (await backends.check(slot)).ready
        statuses = await backends.ollama.create_with_adapter(slot, "classifier-v2.1", "classifier-base", path)
        assert statuses[0].startswith("using existing layer sha256:")
        assert statuses[-2:] == ["writing manifest", "success"]
        health = await backends.check(slot)
        assert health.ready and health.detail == "serves 'classifier-v2.1'"
        build = await backends.ollama.model_build(slot)
        base = await backends.ollama.model_build(oslot(url, "classifier-base"))
        assert base is not None and build == ModelBuild(base.base, (file_digest(path),))
        # Repeating is safe and creates nothing.
        creates = sum(1 for _, p in fake.calls if p == "/api/create")
        again = await backends.ollama.create_with_adapter(slot, "classifier-v2.1", "classifier-base", path)
        assert again == ["model 'classifier-v2.1' already exists with this base and adapter"]
        assert sum(1 for _, p in fake.calls if p == "/api/create") == creates
        # Another adapter under the same name is refused, never swapped in under a live slot.
        other = adapter_file(tmp_path, "v2.2.gguf")
        with pytest.raises(BackendError) as caught:
            await backends.ollama.create_with_adapter(slot, "classifier-v2.1", "classifier-base", other)
        assert "already has a model 'classifier-v2.1' built from other weights" in caught.value.message
        assert "own model name" in (caught.value.hint or "")


async def test_create_errors_in_the_stream_and_before_it(backends: SlotBackends, tmp_path: Path) -> None:
    path = adapter_file(tmp_path, "v2.2.gguf")
    with fake_ollama() as (url, _fake):
        slot = oslot(url, "classifier-base")
        # Unknown base: Ollama tries to pull it, so the error arrives as a line after a status.
        with pytest.raises(BackendError) as caught:
            await backends.ollama.create_with_adapter(slot, "classifier-v2.2", "no-such-base", path)
        assert "pull model manifest: file does not exist" in caught.value.message
        assert "`ollama pull`" in (caught.value.hint or "")
        # A bad name fails before streaming: an HTTP 400 with {"error": ...}.
        with pytest.raises(UpstreamStatusError) as bad_name:
            await backends.ollama.create_with_adapter(slot, "bad name!", "classifier-base", path)
        assert bad_name.value.status == 400 and "invalid model name" in bad_name.value.message
        # Not a GGUF adapter: the error follows the base's status line.
        text = tmp_path / "notes.gguf"
        text.write_text("not an adapter")
        with pytest.raises(BackendError, match="unknown type"):
            await backends.ollama.create_with_adapter(slot, "classifier-v9", "classifier-base", text)
        with pytest.raises(BackendError, match="no file at"):
            await backends.ollama.create_with_adapter(
                slot, "classifier-v9", "classifier-base", tmp_path / "x"
            )


async def test_memory_comes_from_api_ps_once_the_model_is_loaded(
    backends: SlotBackends, tmp_path: Path
) -> None:
    with fake_ollama(memory_bytes=40_000_000) as (url, _fake):
        slot = oslot(url, "classifier-base")
        assert (await backends.check(slot)).memory_bytes is None
        assert await backends.complete(slot, ASK) == "answer from classifier-base:latest"
        health = await backends.check(slot)
        assert health.ready and health.memory_bytes == 40_000_000


async def test_plan_warnings_for_two_adapters_of_one_base(backends: SlotBackends, tmp_path: Path) -> None:
    with fake_ollama(cold_load_ns=2_500_000_000) as (url, fake):
        blue, green = oslot(url, "classifier-v2.1", "blue"), oslot(url, "classifier-v2.2", "green")
        for slot, file in ((blue, "v2.1.gguf"), (green, "v2.2.gguf")):
            base_slot = oslot(url, "classifier-base")
            await backends.ollama.create_with_adapter(
                base_slot, slot.backend_model, "classifier-base", adapter_file(tmp_path, file)
            )
        table = RouteTable(
            version=1, slots={"blue": blue, "green": green.with_changes(model="old")}, active="blue"
        )

        assert isinstance(backends, ColocationAdvisor)  # what the controller looks for
        first = await backends.colocation_warnings(table, green)
        assert len(first) == 1 and "not measured yet" in first[0]

        # What the warning is about: alternating requests reload the one runner every time.
        for _ in range(2):
            await backends.complete(blue, ASK)
            await backends.complete(green, ASK)
        assert fake.reloads == 3
        assert len(fake.runners) == 1

        measured = await backends.colocation_warnings(table, green)
        assert "expect a cold start of 2.5 s on rollback" in measured[0]
        assert "every switch between them reloads the Ollama runner" in measured[0]
        assert "two Ollama servers or llama.cpp" in measured[0]


async def test_no_warning_for_other_bases_servers_or_kinds(backends: SlotBackends, tmp_path: Path) -> None:
    with fake_ollama() as (url, _fake), fake_ollama() as (url2, _fake2):
        await backends.ollama.create_with_adapter(
            oslot(url, "other-base"), "other-v1", "other-base", adapter_file(tmp_path, "o.gguf")
        )
        await backends.ollama.create_with_adapter(
            oslot(url2, "classifier-base"),
            "classifier-v2.1",
            "classifier-base",
            adapter_file(tmp_path, "a.gguf"),
        )
        green = oslot(url, "classifier-base")
        for blue in (
            oslot(url, "other-v1", "blue"),  # another base on the same server
            oslot(url2, "classifier-v2.1", "blue"),  # the same base on another server
            oslot(url, "missing-model", "blue"),  # a model Ollama cannot show
        ):
            table = RouteTable(version=1, slots={"blue": blue, "green": green}, active="blue")
            assert await backends.colocation_warnings(table, green) == []
        vllm = Slot("green", url, "classifier-v2.2", BackendKind.VLLM)
        table = RouteTable(
            version=1, slots={"blue": oslot(url, "other-v1", "blue"), "green": vllm}, active="blue"
        )
        assert await backends.colocation_warnings(table, vllm) == []
