"""What a deploy must load before its candidate can be checked, per backend kind.

* llamacpp on a slipway engine: an adapter the engine has not loaded gets a
  new engine (`engine.provision.EngineProvisioner`).
* vLLM: the adapter is loaded at run time under the slot's model name, since
  vLLM picks the adapter by the request's `model`; every version gets its own
  name, so loading v2.3 never disturbs the v2.2 that serves production.
  Only an adapter this deploy loaded is unloaded again if the deploy fails.
  The composition root may hand it a check of the adapter's files (the
  registry's PEFT validation), run before vLLM is asked to load it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from slipway.backends.vllm import VllmBackend
from slipway.core.ports import SlotProvisioner
from slipway.core.types import BackendKind, RouteTable, Slot


class VllmAdapterProvisioner:
    def __init__(self, vllm: VllmBackend, check_adapter: Callable[[str], None] | None = None) -> None:
        self._vllm = vllm
        #: raises a SlipwayError when the adapter's files must not be loaded.
        self._check_adapter = check_adapter
        self._loaded_here: set[tuple[str, str]] = set()

    async def provision(self, slot: Slot) -> Slot:
        if slot.kind is not BackendKind.VLLM or slot.adapter is None:
            return slot
        if self._check_adapter is not None:
            self._check_adapter(slot.adapter)
        key = (slot.endpoint, slot.backend_model)
        before = await self._vllm.check(slot)
        await self._vllm.load_adapter(slot, slot.backend_model, slot.adapter)
        if not before.ready:
            self._loaded_here.add(key)
        return slot

    async def discard(self, slot: Slot, table: RouteTable) -> None:
        key = (slot.endpoint, slot.backend_model)
        if any((s.endpoint, s.backend_model) == key for s in table.slots.values()):
            return  # a slot still sends requests under that name
        if key in self._loaded_here:
            self._loaded_here.discard(key)
            await self._vllm.unload_adapter(slot, slot.backend_model)


class ProvisionerChain:
    """Each provisioner in turn; each ignores the kinds it does not handle."""

    def __init__(self, provisioners: Sequence[SlotProvisioner]) -> None:
        self._provisioners = tuple(provisioners)

    async def provision(self, slot: Slot) -> Slot:
        for provisioner in self._provisioners:
            slot = await provisioner.provision(slot)
        return slot

    async def discard(self, slot: Slot, table: RouteTable) -> None:
        for provisioner in reversed(self._provisioners):
            await provisioner.discard(slot, table)
