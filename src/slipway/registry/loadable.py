"""The `loadable` check: the engine loads base + adapter and answers one prompt.

The registry may not start engines (it imports only `core`), so the check
takes a probe: an async callable that loads `adapter` on `base`, runs
`prompt` with the adapter applied and returns the completion text, raising a
`SlipwayError` when it cannot. `slipway.backends.engine.probe.probe_adapter`
is the llama-server one; the CLI and the composition root wire it in.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from slipway.core.errors import AdapterInvalid, SlipwayError
from slipway.registry.report import CheckResult, CheckStatus, ValidationReport

#: (base, adapter, prompt) -> completion text.
AdapterProbe = Callable[[Path, Path, str], Awaitable[str]]

DEFAULT_PROMPT = "Hello"


async def check_loadable(
    adapter: Path,
    base: Path,
    probe: AdapterProbe,
    *,
    prompt: str = DEFAULT_PROMPT,
) -> CheckResult:
    started = time.perf_counter()
    try:
        text = await probe(base, adapter, prompt)
    except (SlipwayError, OSError) as exc:
        hint = exc.hint if isinstance(exc, SlipwayError) else None
        reason = exc.message if isinstance(exc, SlipwayError) else f"{type(exc).__name__}: {exc}"
        error = AdapterInvalid(
            f"the engine could not load the adapter on {base.name} and answer a prompt: {reason}",
            path=str(adapter),
            check="loadable",
            found="no answer",
            expected=f"an answer to {prompt!r}",
            hint=hint or "Read the engine log quoted above; validate the adapter's file checks first.",
        )
        return CheckResult("loadable", CheckStatus.FAILED, error.reason, time.perf_counter() - started, error)
    elapsed = time.perf_counter() - started
    shown = text if len(text) <= 40 else text[:40] + "…"
    return CheckResult("loadable", CheckStatus.PASSED, f"answered {prompt!r} with {shown!r}", elapsed)


def skipped_loadable(reason: str) -> CheckResult:
    return CheckResult("loadable", CheckStatus.SKIPPED, f"skipped: {reason}")


async def add_loadable_check(
    report: ValidationReport,
    probe: AdapterProbe | None,
    *,
    prompt: str = DEFAULT_PROMPT,
    unavailable: str = "no engine to load it in",
) -> ValidationReport:
    """`report` plus `loadable`: run only when every file check passed (one bad adapter stops the engine)."""
    if not report.ok:
        return report.with_check(skipped_loadable("a file check failed; it must not be loaded"))
    if probe is None or report.base is None:
        return report.with_check(skipped_loadable(unavailable))
    return report.with_check(await check_loadable(report.adapter, report.base, probe, prompt=prompt))
