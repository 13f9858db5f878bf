"""The checklist's model-file item: the registry's validation of what a slot's engine loaded.

Only files slipway can see can be looked at: an engine it runs
(`engine://NAME`) has its base and adapters on this host, and a vLLM
slot's PEFT adapter that is a version in a registry has its Hugging Face
base beside it. A model another server loads from its own disk (Ollama,
vLLM, an OpenAI-compatible service) is that server's file; the item is
then "n/a", and says so, since the health check and the smoke test are the
evidence it loads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from slipway.backends.engine.fleet import EngineSpec
from slipway.core.checklist_items import ModelFileCheck
from slipway.core.lora import ENGINE_SCHEME, is_engine_endpoint, match_adapter
from slipway.core.types import BackendKind, Slot
from slipway.registry.peft_deploy import validate_registry_peft
from slipway.registry.report import CheckStatus, ValidationReport
from slipway.registry.validate import open_base, validate_adapter


async def check_model_file(slot: Slot, engines: Mapping[str, EngineSpec]) -> ModelFileCheck:
    """Validate the slot's base (and adapter) files off the event loop; reading a GGUF takes a while."""
    if slot.kind is BackendKind.VLLM and slot.adapter is not None:
        peft = await asyncio.to_thread(_registry_peft, slot.adapter)
        if peft is not None:
            return peft
    if not is_engine_endpoint(slot.endpoint):
        return ModelFileCheck(
            None,
            f"{slot.model} is loaded by the {slot.kind} server at {slot.endpoint}, which holds the file; "
            "its health check and smoke test showed it loads and answers",
        )
    name = slot.endpoint[len(ENGINE_SCHEME) :]
    spec = engines.get(name)
    if spec is None:
        return ModelFileCheck(False, f"engine {name} is not running, so its files could not be found")
    return await asyncio.to_thread(_validate, slot, spec)


def _registry_peft(adapter: str) -> ModelFileCheck | None:
    """The registry's PEFT checks of a vLLM slot's adapter; None when it is not a registry version."""
    report: ValidationReport | None = validate_registry_peft(Path(adapter))
    if report is None:
        return None
    base = report.base.name if report.base is not None else "?"
    return _judged(report, f"PEFT adapter {report.adapter.name}", base)


def _validate(slot: Slot, spec: EngineSpec) -> ModelFileCheck:
    base = open_base(spec.base)
    if slot.adapter is None:
        return ModelFileCheck(True, f"base {spec.base.name} is a valid GGUF, loaded by engine {spec.name}")
    index = match_adapter([str(a) for a in spec.adapters], slot.adapter, where=f"engine {spec.name}")
    adapter = spec.adapters[index]
    report = validate_adapter(adapter, base)
    return _judged(
        report, f"adapter {adapter.name}", spec.base.name, loaded=f" and is loaded by engine {spec.name}"
    )


def _judged(report: ValidationReport, what: str, base: str, *, loaded: str = "") -> ModelFileCheck:
    """The item's verdict on a validation: any failed check, or a base nobody verified, fails it."""
    if not report.ok:
        failed = "; ".join(f"{c.name}: {c.detail[:200]}" for c in report.failures)
        return ModelFileCheck(False, f"{what} failed validation against {base}: {failed}")
    identity = report.identity
    if not report.settled or identity is None:
        # An adapter whose base nobody checked is how an old adapter reaches a new base unnoticed.
        hint = identity.hint if identity is not None and identity.hint else ""
        return ModelFileCheck(
            False,
            f"{what}: its base is unknown, so it may have been trained for another base than {base}. "
            f"{hint}".strip(),
        )
    checks = sum(1 for c in report.checks if c.status is CheckStatus.PASSED)
    # PEFT identities say "verified: ..." themselves, GGUF ones do not: said once either way.
    summary = identity.summary.removeprefix("verified: ")
    how = f"trusted: {summary}" if identity.trust is not None else f"verified: {summary}"
    return ModelFileCheck(True, f"{what} passed {checks} checks against base {base}{loaded}; base {how}")
