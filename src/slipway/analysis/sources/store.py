"""Arm samples from the store: one slot over one window, ready for `decide.judge`.

Interface (the controller codes against it):

    await arm_sample(store, slot, since, until, checks=DEFAULT_CHECKS, *,
                     latency_cap=DEFAULT_LATENCY_CAP) -> ArmSample
    await arm_samples(store, slots, since, until, checks=DEFAULT_CHECKS, *,
                      latency_cap=DEFAULT_LATENCY_CAP) -> dict[str, ArmSample]

`store` is anything with `read_arm_window` and `read_arm_windows`
(`core.arms.ArmWindowReader`; the SQL `Store` is one). The store does what SQL
does well: counts per slot and category, a uniform random subsample of at
most `latency_cap` completed requests (latency, TTFT, output length and head),
and the window's feedback merged per request, labelled answers scored against
their ground truth (`core.labels.matches_label`, the smoke tests' rule). Here
the subsample's answers go through the output checks. `arm_samples` reads
several slots over one window together — how a check should read baseline and
candidate: the same window, in parallel, one feedback query for both.

One check (both arms) over a million request records takes about 0.9 s on
SQLite with two cores (docs/benchmarks.md, "canary statistics").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from slipway.analysis.output_checks import DEFAULT_CHECKS, OutputCheck, run_checks
from slipway.analysis.samples import ArmSample, CategoryCount
from slipway.core.arms import ArmWindow, ArmWindowReader

#: Latencies (and answers checked) per arm and check: a p95 from 10,000 values is within
#: about ±1.5 % in rank; more would only cost time.
DEFAULT_LATENCY_CAP = 10_000


async def arm_sample(
    store: ArmWindowReader,
    slot: str,
    since: float,
    until: float,
    checks: Sequence[OutputCheck] = DEFAULT_CHECKS,
    *,
    latency_cap: int = DEFAULT_LATENCY_CAP,
) -> ArmSample:
    """The slot's requests started in [since, until), as an ArmSample."""
    window = await store.read_arm_window(slot, since=since, until=until, sample_cap=latency_cap)
    return sample_from_window(window, checks)


async def arm_samples(
    store: ArmWindowReader,
    slots: Iterable[str],
    since: float,
    until: float,
    checks: Sequence[OutputCheck] = DEFAULT_CHECKS,
    *,
    latency_cap: int = DEFAULT_LATENCY_CAP,
) -> dict[str, ArmSample]:
    """Several slots over the same window, read together (one feedback query for all of them)."""
    names = list(dict.fromkeys(slots))
    windows = await store.read_arm_windows(names, since=since, until=until, sample_cap=latency_cap)
    return {name: sample_from_window(windows[name], checks) for name in names}


def sample_from_window(window: ArmWindow, checks: Sequence[OutputCheck] = DEFAULT_CHECKS) -> ArmSample:
    """Pure: score labels, run the output checks, and package the counts."""
    tally = run_checks(
        (
            (head, chars > len(head))
            for head, chars in zip(window.output_heads, window.output_chars, strict=True)
        ),
        checks,
    )
    totals = window.totals
    return ArmSample(
        slot=window.slot,
        requests=totals.requests,
        errors=totals.errors,
        streams=totals.streams,
        aborted_streams=totals.aborted_streams,
        latency_ms=np.asarray(window.latency_ms, dtype=np.float64),
        ttft_ms=np.array([t for t in window.ttft_ms if t is not None], dtype=np.float64),
        output_chars=np.asarray(window.output_chars, dtype=np.float64),
        sampled_from=window.sampled_from,
        checked_outputs=tally.checked,
        invalid_outputs=tally.invalid,
        invalid_by_check=tally.by_check,
        rated=window.rated,
        satisfied=window.satisfied,
        per_category={c: CategoryCount(n, k) for c, (n, k) in window.accuracy.items()},
        category_requests=window.category_requests,
        since=window.since,
        until=window.until,
    )
