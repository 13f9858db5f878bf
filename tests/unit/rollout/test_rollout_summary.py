"""The summary of an ended rollout: what changed, what was checked, what was found, what to do next."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.rollout.test_canary_machine import PLAN, started, thin_billing, verdict

from slipway.core.notifications import Severity
from slipway.rollout.strategies import canary
from slipway.rollout.strategies.canary import CanaryStatus, Tick
from slipway.rollout.strategies.summary import rollout_summary

H = 3600.0


def test_a_rolled_back_canary_reads_as_four_answers_with_its_last_table() -> None:
    state, _ = canary.step(started(), Tick(verdict("rollback", "accuracy[billing] 0.96 → 0.62")), now=0.5 * H)
    note = rollout_summary(state, 0.5 * H)
    assert note.event == "canary.summary" and note.severity is Severity.WARNING
    assert note.title == "summary: the canary of v2.2 ended rolled back after 30m"
    changed, checked, found, follow = note.text.splitlines()
    assert changed.startswith("What changed: v2.2 was ramped in green beside blue (5%:2h,25%:4h,100%)")
    assert checked == "What was checked: 1 check(s) of error_rate; the last one's table is attached."
    assert found.startswith("What was found: rolled back: halted: accuracy[billing] 0.96 → 0.62")
    assert follow.startswith("What to do next: green stays loaded with v2.2 for the investigation")
    assert f"`slipway postmortem {state.deployment_id}`" in follow
    assert f"`slipway regressions add --from {state.deployment_id}`" in follow
    assert state.last_verdict is not None and note.metrics == state.last_verdict.metrics


def test_a_bake_that_ended_not_judged_names_the_categories() -> None:
    state = replace(started(PLAN), status=CanaryStatus.PROMOTED, promoted_at=0.0, phase=2, kind="bake")
    state, _ = canary.step(state, Tick(thin_billing(covered=False)), now=7 * 86400 + 4 * H)
    assert state.status is CanaryStatus.ROLLED_BACK
    note = rollout_summary(state, 7 * 86400 + 4 * H)
    assert note.event == "bake.summary"
    assert "Not enough labels to judge billing: 20 of 58 labels on the candidate." in note.text
