"""Is a staged candidate fit to take traffic: its backend answers, and its smoke test passes.

Shared by every strategy that stages a version (blue-green, canary,
shadow): the candidate is checked as a detached slot, before the route
table changes, so a failure leaves production exactly as it was. The
deployment row records what was found (health, memory, colocation
warnings, the smoke report) and ends FAILED or SMOKE_FAILED on a refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from slipway.core.adapter_probe_config import AdapterProbeConfig
from slipway.core.colocation import ColocationAdvisor
from slipway.core.deployments import Deployment, DeploymentStatus
from slipway.core.errors import SmokeTestFailed, TransitionError
from slipway.core.ports import SlotBackend
from slipway.core.types import RouteTable, Slot
from slipway.evals.smoke import SmokeCase
from slipway.rollout.adapter_probe import probe_slot
from slipway.rollout.deployment_book import DeploymentBook
from slipway.rollout.smoke import run_smoke


async def check_candidate(
    backend: SlotBackend,
    deployments: DeploymentBook,
    dep: Deployment,
    table: RouteTable,
    slot: Slot,
    smoke_cases: list[SmokeCase] | None,
    say: Callable[[str], None],
    *,
    probe: AdapterProbeConfig | None = None,
) -> None:
    """Raise, with the deployment settled, unless `slot` is ready and passes `smoke_cases`.

    After passing cases, the adapter `probe` runs as part of the smoke test:
    a slot whose engine serves other names too can pass every case alone and
    still answer with another name's weights once users' requests share a batch.
    """
    health = await backend.check(slot)
    dep.detail["health"] = health.detail
    if isinstance(backend, ColocationAdvisor):
        # Before the smoke test: on a shared Ollama runner the smoke test itself evicts production.
        warnings = await backend.colocation_warnings(table, slot)
        if warnings:
            dep.detail["warnings"] = warnings
            for warning in warnings:
                say(f"warning: {warning}")
    if health.memory_bytes is not None:
        dep.detail["memory_bytes"] = health.memory_bytes
    if not health.ready:
        await deployments.settle(dep, DeploymentStatus.FAILED)
        raise TransitionError(
            f"slot {slot.name!r} is not ready: {health.detail}",
            hint="fix the backend, then deploy again; production traffic was not touched",
        )
    say(f"slot {slot.name} is ready: {health.detail}")

    if smoke_cases:
        await deployments.move(dep, DeploymentStatus.SMOKE_TESTING)
        say(f"running {len(smoke_cases)} smoke prompts against {slot.name}")
        report = await run_smoke(backend, slot, smoke_cases)
        if report.passed:
            checked = await probe_slot(backend, slot, smoke_cases, probe or AdapterProbeConfig(), say)
            report = replace(report, probe=checked)
            say(checked.render_text().splitlines()[0])
        dep.detail["smoke"] = report.to_dict()
        if not report.passed:
            await deployments.settle(dep, DeploymentStatus.SMOKE_FAILED)
            hint = "fix the model or the expectations (failed prompts in the report) and deploy again"
            if report.probe is not None and report.probe.blocks:
                hint = report.probe.fix
            raise SmokeTestFailed(
                f"smoke test failed on slot {slot.name!r}; traffic stays on {table.active!r}",
                report=report.to_dict(),
                hint=hint,
            )
        say(f"smoke test passed ({report.to_dict().get('passed_count', len(smoke_cases))} prompts)")
    else:
        dep.detail["smoke"] = "skipped by operator"
