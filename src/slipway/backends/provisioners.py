"""What a deploy must load before its candidate can be checked, per backend kind.

* llamacpp on a slipway engine: an adapter the engine has not loaded gets a
  new engine (`engine.provision.EngineProvisioner`).
* vLLM: the adapter is loaded at run time under the slot's model name, since
  vLLM picks the adapter by the request's `model`; every version gets its own
  name, so loading v2.3 never disturbs the v2.2 that serves production.
  Only an adapter slipway loaded is unloaded again, when its deploy fails or
  its slot is replaced: each load is written in the store's ledger
  (`backends.vllm_reconcile.AdapterLedger`), so a restarted slipway still
  knows which adapters are its own. The composition root may hand it a check of the adapter's files (the
  registry's PEFT validation), run before vLLM is asked to load it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from slipway.backends.vllm import VllmBackend
from slipway.backends.vllm_reconcile import AdapterLedger
from slipway.core.errors import BackendTimeout, SlipwayError
from slipway.core.ports import SlotProvisioner
from slipway.core.types import BackendKind, RouteTable, Slot


class VllmAdapterProvisioner:
    def __init__(
        self,
        vllm: VllmBackend,
        check_adapter: Callable[[str], None] | None = None,
        ledger: AdapterLedger | None = None,
    ) -> None:
        self._vllm = vllm
        self._ledger = ledger
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
        recorded = not before.ready and self._ledger is not None
        if recorded and self._ledger is not None:
            # Written before the load: a crash between the two leaves an entry the next reconcile
            # forgets (vLLM does not list it), never an adapter loaded that no one knows is slipway's.
            await self._ledger.add(slot, slot.backend_model, slot.adapter)
        try:
            await self._vllm.load_adapter(slot, slot.backend_model, slot.adapter)
        except SlipwayError as exc:
            # Refused: nothing was loaded. A timeout may have loaded it after all: the entry stays,
            # and the next reconcile unloads it (or forgets it, if vLLM does not list it).
            if recorded and self._ledger is not None and not isinstance(exc, BackendTimeout):
                with contextlib.suppress(SlipwayError):  # the refusal is what the operator must read
                    await self._ledger.remove(key)
            raise
        if not before.ready:
            self._loaded_here.add(key)
        return slot

    async def discard(self, slot: Slot, table: RouteTable) -> None:
        key = (slot.endpoint, slot.backend_model)
        if any((s.endpoint, s.backend_model) == key for s in table.slots.values()):
            return  # a slot still sends requests under that name
        ours = key in self._loaded_here or (
            slot.kind is BackendKind.VLLM and self._ledger is not None and await self._ledger.holds(*key)
        )
        if ours:
            self._loaded_here.discard(key)
            await self._vllm.unload_adapter(slot, slot.backend_model)
            if self._ledger is not None:
                await self._ledger.remove(key)


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
