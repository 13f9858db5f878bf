"""Run the adapter probe against a standby slot's engine: references one by one, then all names at once.

The references are taken strictly one request at a time, so no batch can
mix names; the mixed batch then interleaves every name on every prompt for
`rounds` rounds with up to `concurrency` requests in flight, which is what
makes an engine batch different names together. Judging is
`evals.adapter_probe`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from slipway.core.adapter_probe import ProbeName, ProbeTargets, ProbeTargetSource
from slipway.core.adapter_probe_config import AdapterProbeConfig
from slipway.core.errors import BackendError
from slipway.core.ports import SlotBackend
from slipway.core.types import Slot
from slipway.evals.adapter_probe import (
    Answer,
    ProbePrompt,
    ProbeReport,
    choose_names,
    could_not_run,
    judge_probe,
    probe_prompts,
    skipped,
)
from slipway.evals.smoke import SmokeCase


async def probe_slot(
    backend: SlotBackend,
    slot: Slot,
    cases: Sequence[SmokeCase],
    config: AdapterProbeConfig,
    say: Callable[[str], None],
) -> ProbeReport:
    """The probe's report for `slot`, or why it was skipped; never raises for a backend failure."""
    if not config.enabled:
        return skipped("turned off in the config (adapter_probe.enabled: false)", config)
    if not isinstance(backend, ProbeTargetSource):
        return skipped("this backend cannot list the model names sharing an engine", config)
    try:
        targets = await backend.probe_targets(slot)
    except BackendError as exc:
        return could_not_run(f"listing the model names on {slot.endpoint} failed: {exc.message}", config)
    if targets.skipped is not None:
        return skipped(targets.skipped, config)
    prompts = probe_prompts(cases, config)
    if not prompts:
        return skipped("no probe prompts: no smoke cases and no adapter_probe.prompts", config)
    names, left_out = choose_names(targets.names, config.max_names)
    say(
        f"adapter probe: {len(names)} names on {slot.endpoint} x {len(prompts)} prompts, one at a time, "
        f"then {config.rounds} mixed rounds at concurrency {config.concurrency} "
        f"({config.requests_per_run(len(names), len(prompts))} requests)"
    )
    return await run_probe(backend, targets, names, prompts, config, left_out)


async def run_probe(
    backend: SlotBackend,
    targets: ProbeTargets,
    names: Sequence[ProbeName],
    prompts: Sequence[ProbePrompt],
    config: AdapterProbeConfig,
    left_out: Sequence[str] = (),
) -> ProbeReport:
    references = [await _ask(backend, name, prompt, config) for name in names for prompt in prompts]
    gate = asyncio.Semaphore(config.concurrency)

    async def one(name: ProbeName, prompt: ProbePrompt) -> Answer:
        async with gate:
            return await _ask(backend, name, prompt, config)

    # Every name on every prompt, next to each other, round after round: the mix an engine batches.
    mixed = await asyncio.gather(
        *(one(name, prompt) for _ in range(config.rounds) for prompt in prompts for name in names)
    )
    return judge_probe(targets, names, prompts, references, mixed, config, left_out)


async def _ask(
    backend: SlotBackend, name: ProbeName, prompt: ProbePrompt, config: AdapterProbeConfig
) -> Answer:
    try:
        text = await backend.complete(name.slot, prompt.request(name.slot.backend_model, config))
    except BackendError as exc:
        return Answer(name.name, prompt.id, None, exc.message)
    return Answer(name.name, prompt.id, text)
