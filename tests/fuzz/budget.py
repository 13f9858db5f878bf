"""How much each fuzz target runs: a small fixed budget in CI, a long campaign on demand.

CI runs the same inputs every time (derandomized, no example database), so a
failure there reproduces on any machine and a pass never depends on luck.
`SLIPWAY_FUZZ_SCALE=N` multiplies every target's example count and draws
fresh random inputs on each run (pass `--hypothesis-seed=S` to replay one);
it is how the long campaign in docs/security.md was run.

No test here decides pass or fail by the clock: deadlines are off, and the
per-test timeout only stops a hang.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: Multiplier on every target's example count (1: the CI budget).
SCALE = max(1.0, float(os.environ.get("SLIPWAY_FUZZ_SCALE", "1") or "1"))
LONG = SCALE > 1
#: pytest-timeout for one fuzz test: stops a hung server, scaled with the campaign.
TIMEOUT_S = int(300 * SCALE)


def examples(ci: int) -> int:
    return max(1, round(ci * SCALE))


def fuzz_settings(ci_examples: int) -> settings:
    """Settings for one target; `ci_examples` is its count in CI."""
    return settings(
        max_examples=examples(ci_examples),
        deadline=None,
        derandomize=not LONG,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )
