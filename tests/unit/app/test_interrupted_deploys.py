"""When a deploy still checking its candidate is taken as interrupted, and when it is left alone."""

from __future__ import annotations

import pytest

from slipway.app.interrupted_deploys import LEGACY_AFTER_S, interrupted
from slipway.core.deployments import Deployment, DeploymentStatus, Strategy

NOW = 1_000_000.0
WINDOW = 10.0


def dep(status: DeploymentStatus, updated_at: float, owner: str | None) -> Deployment:
    detail: dict[str, object] = {} if owner is None else {"checked_by": owner}
    return Deployment(
        "d1", "v2.2", Strategy.BLUEGREEN, "green", status, NOW - 100, updated_at, "ops", None, detail
    )


@pytest.mark.parametrize(
    ("status", "updated_at", "owner", "live", "expected"),
    [
        (DeploymentStatus.SMOKE_TESTING, NOW - 60, "r1", set(), "replica r1, which ran its checks, stopped"),
        (DeploymentStatus.PENDING, NOW - 60, "r1", set(), "replica r1, which ran its checks, stopped"),
        (DeploymentStatus.SMOKE_TESTING, NOW - 60, "r1", {"r1"}, None),  # its replica still beats
        (DeploymentStatus.SMOKE_TESTING, NOW - 2, "r1", set(), None),  # too fresh to tell
        (DeploymentStatus.LIVE, NOW - 60, "r1", set(), None),  # not checking any more
        (DeploymentStatus.STAGED, NOW - 60, "r1", set(), None),
        (DeploymentStatus.SMOKE_TESTING, NOW - 60, None, set(), None),  # no owner recorded: wait longer
        (DeploymentStatus.SMOKE_TESTING, NOW - LEGACY_AFTER_S - 1, None, set(), "said nothing for over 6 h"),
    ],
)
def test_interrupted(
    status: DeploymentStatus, updated_at: float, owner: str | None, live: set[str], expected: str | None
) -> None:
    why = interrupted(dep(status, updated_at, owner), live, now=NOW, live_within_s=WINDOW)
    if expected is None:
        assert why is None
    else:
        assert why is not None and expected in why
