"""The ledger and the reconcile against a PROTOCOL-FAITHFUL FAKE of vLLM (tests/fakes/vllm_protocol.py).

The real thing is tested in tests/vllm/test_reconcile_on_vllm.py; here the
cases a real server makes slow: a fresh process (a new provisioner, the same
store) that still knows which adapters are its own, names reloaded from
elsewhere, a server that is down, and vLLM's refusal of a rank above its
--max-lora-rank.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from tests.fakes.vllm_protocol import create_vllm_protocol_fake
from tests.processes import free_port
from tests.servers import run_asgi

from slipway.backends.factory import SlotBackends
from slipway.backends.provisioners import VllmAdapterProvisioner
from slipway.backends.vllm_reconcile import AdapterLedger, KeepRule, VllmReconciler
from slipway.core.errors import UpstreamStatusError
from slipway.core.types import BackendKind, RouteTable, Slot

BASE = "meta-llama/Llama-3.2-1B-Instruct"


class MemoryMeta:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get_meta(self, key: str) -> str | None:
        return self.values.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        self.values[key] = value


def peft(root: Path, name: str, r: int = 8) -> str:
    path = root / name
    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": r}))
    return str(path)


def slot(url: str, name: str, adapter: str, slot_name: str = "green") -> Slot:
    return Slot(
        name=slot_name, endpoint=url, model=name, kind=BackendKind.VLLM, adapter=adapter, version=name
    )


def routes(*slots: Slot) -> RouteTable:
    return RouteTable(version=1, slots={s.name: s for s in slots}, active=slots[0].name)


def now(table: RouteTable | None) -> Callable[[], Awaitable[RouteTable | None]]:
    async def read() -> RouteTable | None:
        return table

    return read


async def listed(backends: SlotBackends, url: str) -> set[str]:
    return {m.id for m in await backends.vllm.models(slot(url, BASE, "x"))}


async def test_a_new_process_unloads_what_an_earlier_one_loaded_and_nothing_refers_to(
    backends: SlotBackends, tmp_path: Path
) -> None:
    static = peft(tmp_path, "static")
    v1, v2, v3 = (peft(tmp_path, v) for v in ("v1", "v2", "v3"))
    meta = MemoryMeta()
    with run_asgi(create_vllm_protocol_fake(BASE, lora_modules={"cs-static": static})) as url:
        # Given a process that deployed v1 then v2 (each loaded through the provisioner), then died
        first = VllmAdapterProvisioner(backends.vllm, ledger=AdapterLedger(meta))
        for name, path in (("cs-v1", v1), ("cs-v2", v2)):
            await first.provision(slot(url, name, path))
        # and an adapter someone loaded by hand under a name like slipway's
        await backends.vllm.load_adapter(slot(url, "cs-v3", v3), "cs-v3", v3)
        assert await listed(backends, url) == {BASE, "cs-static", "cs-v1", "cs-v2", "cs-v3"}

        # When a new process reconciles with routes that refer only to v2 (and the static adapter)
        ledger = AdapterLedger(meta)
        table = routes(slot(url, "cs-v2", v2, "blue"), slot(url, "cs-static", static, "green"))
        report = await VllmReconciler(backends.vllm, ledger).reconcile(now(table))

        # Then only v1 went: v2 is routed to, and the others were never slipway's
        assert report.unloaded == ((url, "cs-v1"),)
        assert await listed(backends, url) == {BASE, "cs-static", "cs-v2", "cs-v3"}
        assert set(await ledger.entries()) == {(url, "cs-v2")}
        assert "unloaded 'cs-v1'" in report.describe()

        # And once v2 is replaced too, the new process's retire unloads it (the ledger says it is its own)
        second = VllmAdapterProvisioner(backends.vllm, ledger=ledger)
        await second.discard(slot(url, "cs-v2", v2), routes(slot(url, "cs-static", static, "blue")))
        assert await listed(backends, url) == {BASE, "cs-static", "cs-v3"}
        assert await ledger.entries() == {}
        # while an adapter slipway did not load is never unloaded by a discard either
        await second.discard(slot(url, "cs-v3", v3), routes(slot(url, "cs-static", static, "blue")))
        assert "cs-v3" in await listed(backends, url)


async def test_what_must_stay_stays_and_a_name_reloaded_from_elsewhere_is_forgotten(
    backends: SlotBackends, tmp_path: Path
) -> None:
    v1, v2, other = peft(tmp_path, "v1"), peft(tmp_path, "v2"), peft(tmp_path, "other")
    meta = MemoryMeta()
    ledger = AdapterLedger(meta)
    with run_asgi(create_vllm_protocol_fake(BASE)) as url:
        provisioner = VllmAdapterProvisioner(backends.vllm, ledger=ledger)
        await provisioner.provision(slot(url, "cs-v1", v1))
        await provisioner.provision(slot(url, "cs-v2", v2))
        # someone unloaded v2 and loaded their own weights under its name
        await backends.vllm.unload_adapter(slot(url, "cs-v2", v2), "cs-v2")
        await backends.vllm.load_adapter(slot(url, "cs-v2", other), "cs-v2", other)
        table = routes(slot(url, "base", "x", "blue"))

        async def keep() -> KeepRule:
            return lambda e: "a deploy is checking it" if e.name == "cs-v1" else None

        report = await VllmReconciler(backends.vllm, ledger).reconcile(now(table), keep)

        assert report.unloaded == ()
        assert [(e.name, why) for e, why in report.plan.kept] == [("cs-v1", "a deploy is checking it")]
        assert [e.name for e, _ in report.plan.forget] == ["cs-v2"]
        assert {"cs-v1", "cs-v2"} <= await listed(backends, url)
        assert set(await ledger.entries()) == {(url, "cs-v1")}


async def test_a_server_that_cannot_be_asked_keeps_its_entries_for_the_next_reconcile(
    backends: SlotBackends, tmp_path: Path
) -> None:
    meta = MemoryMeta()
    ledger = AdapterLedger(meta)
    down = f"http://127.0.0.1:{free_port()}"
    await ledger.add(slot(down, "cs-v1", "/a"), "cs-v1", "/a")
    report = await VllmReconciler(backends.vllm, ledger).reconcile(now(None))
    assert report.unloaded == () and report.failed == ()
    assert "could not be asked" in report.describe()
    assert set(await ledger.entries()) == {(down, "cs-v1")}


async def test_an_unreadable_ledger_unloads_nothing(backends: SlotBackends, tmp_path: Path) -> None:
    meta = MemoryMeta()
    meta.values["vllm_loaded_adapters"] = "{torn"
    with run_asgi(create_vllm_protocol_fake(BASE, lora_modules={"cs-v1": peft(tmp_path, "v1")})) as url:
        report = await VllmReconciler(backends.vllm, AdapterLedger(meta)).reconcile(
            now(routes(slot(url, "x", "y")))
        )
        assert report.unloaded == ()
        assert "cs-v1" in await listed(backends, url)


async def test_a_rank_above_the_servers_limit_names_both_ranks_and_the_fix(
    backends: SlotBackends, tmp_path: Path
) -> None:
    wide = peft(tmp_path, "wide", r=16)
    with run_asgi(create_vllm_protocol_fake(BASE, max_lora_rank=8)) as url:
        ledger = AdapterLedger(MemoryMeta())
        provisioner = VllmAdapterProvisioner(backends.vllm, ledger=ledger)
        with pytest.raises(UpstreamStatusError) as caught:
            await provisioner.provision(slot(url, "cs-wide", wide))
        message, hint = caught.value.message, caught.value.hint or ""
        assert "LoRA rank 16" in message and "max LoRA rank 8" in message and url in message
        assert "--max-lora-rank 16" in hint and "retrain the adapter with r <= 8" in hint
        assert "cs-wide" not in await listed(backends, url)
        assert await ledger.entries() == {}, "a refused load is not recorded as slipway's"


async def test_an_adapter_routed_to_again_before_its_unload_is_kept(
    backends: SlotBackends, tmp_path: Path
) -> None:
    v1 = peft(tmp_path, "v1")
    ledger = AdapterLedger(MemoryMeta())
    with run_asgi(create_vllm_protocol_fake(BASE)) as url:
        await VllmAdapterProvisioner(backends.vllm, ledger=ledger).provision(slot(url, "cs-v1", v1))
        before, after = routes(slot(url, "base", "x", "blue")), routes(slot(url, "cs-v1", v1, "blue"))
        tables = iter([before, after])

        async def moving() -> RouteTable | None:
            return next(tables, after)

        # The plan sees nothing referring to v1; a rollback restages it before the unload is sent.
        report = await VllmReconciler(backends.vllm, ledger).reconcile(moving)

        assert [e.name for e in report.plan.unload] == ["cs-v1"] and report.unloaded == ()
        assert "cs-v1" in await listed(backends, url)
        assert set(await ledger.entries()) == {(url, "cs-v1")}
