"""The canary state machine: each verdict, operator action and route change, and what it leads to."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slipway.core.canary import CanaryVerdict, MetricRow, VerdictAction
from slipway.core.canary_schedule import CanarySchedule, InconclusivePolicy
from slipway.core.deployments import DeploymentStatus
from slipway.core.errors import TransitionError
from slipway.core.notifications import Severity
from slipway.core.types import RouteChangeKind
from slipway.rollout.strategies import canary
from slipway.rollout.strategies.canary import (
    Abort,
    ApplyRoute,
    CanaryState,
    CanaryStatus,
    Effect,
    Finish,
    GuardTick,
    Notify,
    Pause,
    Promote,
    Record,
    Resume,
    Rollback,
    RoutesChanged,
    Tick,
    Unload,
)
from slipway.rollout.strategies.canary_state import desired_route, next_check_at, phase_left, ramp_progress

H = 3600.0
PLAN = CanarySchedule.parse("5%:2h,25%:4h,100%", "15m")


def verdict(action: str, reason: str = "r") -> CanaryVerdict:
    row = MetricRow(
        "error_rate", 0.01, 0.01, "> 2× production", VerdictAction(action), n_baseline=9, n_candidate=1
    )
    return CanaryVerdict(VerdictAction(action), reason, (row,))


def started(plan: CanarySchedule = PLAN) -> CanaryState:
    state, _ = canary.start(
        plan,
        deployment_id="d1",
        version="v2.2",
        baseline="blue",
        candidate="green",
        actor="ann",
        now=0.0,
        wall=1e9,
    )
    return state


def kinds(effects: list[Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def notes(effects: list[Effect]) -> list[str]:
    return [e.notification.event for e in effects if isinstance(e, Notify)]


def test_start_sets_the_first_weight_records_and_notifies() -> None:
    state, effects = canary.start(
        PLAN,
        deployment_id="d1",
        version="v2.2",
        baseline="blue",
        candidate="green",
        actor="ann",
        now=5.0,
        wall=9.0,
    )
    assert (state.status, state.phase, state.phase_started_at, state.started_wall) == ("running", 0, 5.0, 9.0)
    assert desired_route(state) == ("blue", 500) and state.route_pending
    assert kinds(effects) == ["ApplyRoute", "Record", "Notify"]
    assert isinstance(effects[0], ApplyRoute) and effects[0].kind is RouteChangeKind.CANARY
    assert "5% for 2h (phase 1/2)" in effects[0].reason


def test_checks_come_every_interval_and_one_lands_exactly_on_the_phase_end() -> None:
    state = started(CanarySchedule.parse("5%:40m,100%", "15m"))
    assert next_check_at(state) == 15 * 60
    state = replace(state, last_check_at=30 * 60)
    assert next_check_at(state) == 40 * 60  # not 45 min: the phase ends at 40
    state = replace(state, last_check_at=40 * 60)
    assert next_check_at(state) == 55 * 60  # past the end (held): every interval again


@pytest.mark.parametrize(
    ("action", "status", "weight", "events"),
    [
        ("pass", "running", 500, []),
        ("inconclusive", "running", 500, []),
        ("hold", "running", 500, []),  # DF3: a minor change is monitored, the ramp goes on
        ("investigate", "investigating", 500, ["canary.investigating"]),
        ("rollback", "rolled_back", 0, ["canary.rolled_back"]),
    ],
)
def test_a_check_in_the_middle_of_a_phase(action: str, status: str, weight: int, events: list[str]) -> None:
    state, effects = canary.step(started(), Tick(verdict(action)), now=15 * 60)
    assert (state.status, state.phase, state.weight_bp, state.looks) == (status, 0, weight, 1)
    assert notes(effects) == events
    assert isinstance(effects[0], Record) and effects[0].event.kind == "check"


def test_a_rollback_verdict_sets_weight_0_keeps_the_candidate_and_finishes_the_deployment() -> None:
    state, effects = canary.step(started(), Tick(verdict("rollback", "billing accuracy fell")), now=15 * 60)
    assert desired_route(state) == ("blue", 0)
    assert not any(isinstance(e, Unload) for e in effects)
    route = next(e for e in effects if isinstance(e, ApplyRoute))
    assert route.kind is RouteChangeKind.ROLLBACK and "billing accuracy fell" in route.reason
    finish = next(e for e in effects if isinstance(e, Finish))
    assert finish.status is DeploymentStatus.ROLLED_BACK
    note = next(e.notification for e in effects if isinstance(e, Notify))
    assert note.severity is Severity.CRITICAL and note.metrics and "rolled back at 5%" in note.title
    assert next_check_at(state) is None


@pytest.mark.parametrize(("policy", "end"), [("rollback", "rolled_back"), ("hold", "promoted")])
def test_a_clean_week_is_not_stable_while_a_required_category_lacks_labels(policy: str, end: str) -> None:
    plan = replace(PLAN, inconclusive=InconclusivePolicy(policy))
    week = 7 * 86400.0
    state = replace(started(plan), status=CanaryStatus.PROMOTED, promoted_at=0.0, phase=2)
    state, effects = canary.step(state, Tick(thin_billing(covered=False)), now=week)
    assert state.status is CanaryStatus.PROMOTED and state.reason.startswith(
        "not stable yet: not enough labels"
    )
    assert notes(effects) == ["monitor.not_stable"]
    assert next_check_at(state) == week + 900  # waiting for labels: every interval, not a day
    # Labels that arrive in time make it stable...
    done, _ = canary.step(state, Tick(thin_billing(covered=True)), now=week + 900)
    assert done.status is CanaryStatus.STABLE
    # ...and without them, once the hold limit has passed, the plan's policy decides.
    state, _ = canary.step(state, Tick(thin_billing(covered=False)), now=week + 4 * H)
    assert state.status == end, state


def test_pass_at_the_phase_end_moves_to_the_next_step() -> None:
    state, effects = canary.step(started(), Tick(verdict("pass")), now=2 * H)
    assert (state.phase, state.phase_started_at, desired_route(state)) == (1, 2 * H, ("blue", 2500))
    assert notes(effects) == ["canary.phase"]
    assert any(isinstance(e, ApplyRoute) and e.kind is RouteChangeKind.CANARY for e in effects)


def test_pass_at_the_end_of_the_last_phase_promotes_and_starts_the_monitoring_windows() -> None:
    state, _ = canary.step(started(), Tick(verdict("pass")), now=2 * H)
    state, effects = canary.step(state, Tick(verdict("pass")), now=6 * H, wall=123.0)
    assert (state.status, state.promoted_at, state.promoted_wall) == ("promoted", 6 * H, 123.0)
    assert desired_route(state) == ("green", 0) and state.weight_bp == 10_000
    assert any(isinstance(e, ApplyRoute) and e.kind is RouteChangeKind.PROMOTE for e in effects)
    assert any(isinstance(e, Finish) and e.status is DeploymentStatus.LIVE for e in effects)
    assert notes(effects) == ["canary.promoted"]
    # MW1: 5 min for the first hour...
    assert next_check_at(state) == 6 * H + 300


@pytest.mark.parametrize(
    ("since_promotion", "next_after"),
    [(0, 300), (3300, 3600), (3600, 5400), (86400 - 1800, 86400), (86400, 2 * 86400), (6 * 86400, 7 * 86400)],
)
def test_monitoring_windows(since_promotion: float, next_after: float) -> None:
    state = replace(started(), status=CanaryStatus.PROMOTED, promoted_at=0.0, last_check_at=since_promotion)
    assert next_check_at(state) == next_after


def test_a_clean_week_after_promotion_is_stable() -> None:
    state = replace(started(), status=CanaryStatus.PROMOTED, promoted_at=0.0, phase=2)
    state, effects = canary.step(state, Tick(verdict("pass")), now=7 * 86400)
    assert state.status is CanaryStatus.STABLE and next_check_at(state) is None
    assert notes(effects) == ["monitor.stable"]


def test_a_rollback_verdict_in_a_monitoring_window_switches_back_to_the_baseline() -> None:
    state = replace(started(), status=CanaryStatus.PROMOTED, promoted_at=0.0, phase=2)
    state, effects = canary.step(state, Tick(verdict("rollback")), now=600)
    assert state.status is CanaryStatus.ROLLED_BACK and desired_route(state) == ("blue", 0)
    assert notes(effects) == ["canary.rolled_back"]


def test_an_operator_rollback_in_the_monitoring_window_needs_no_verdict() -> None:
    state = replace(started(), status=CanaryStatus.PROMOTED, promoted_at=0.0, phase=2)
    state, effects = canary.step(state, Rollback("ann", "complaints"), now=600)
    assert (state.status, desired_route(state)) == ("rolled_back", ("blue", 0))
    assert kinds(effects)[:2] == ["ApplyRoute", "Finish"]


def test_investigate_never_advances_and_a_pass_clears_it_then_advances_at_the_phase_end() -> None:
    state, _ = canary.step(started(), Tick(verdict("investigate", "p95 latency 1.7×")), now=H)
    state, effects = canary.step(state, Tick(verdict("investigate", "p95 latency 1.7×")), now=2 * H)
    assert (state.status, state.phase) == ("investigating", 0) and notes(effects) == []  # no repeat
    state, effects = canary.step(state, Tick(verdict("pass")), now=2.25 * H)
    assert (state.status, state.phase) == ("running", 1)
    assert notes(effects) == ["canary.cleared", "canary.phase"]


def test_a_df3_hold_at_the_phase_end_advances() -> None:
    state, _ = canary.step(started(), Tick(verdict("hold", "p95 latency 1.1×")), now=2 * H)
    assert (state.status, state.phase) == ("running", 1)


def test_an_investigation_that_outlasts_the_hold_limit_is_rolled_back() -> None:
    state, _ = canary.step(started(), Tick(verdict("investigate")), now=0.25 * H)
    state, _ = canary.step(state, Tick(verdict("inconclusive")), now=2 * H)
    assert state.status is CanaryStatus.INVESTIGATING
    state, _ = canary.step(state, Tick(verdict("investigate")), now=4.25 * H)
    assert state.status is CanaryStatus.ROLLED_BACK and "when in doubt, roll back" in state.reason


@pytest.mark.parametrize(
    ("policy", "status", "phase"),
    [("rollback", "rolled_back", 0), ("hold", "holding", 0), ("extend", "running", 0)],
)
def test_inconclusive_at_the_phase_end_follows_the_plan(policy: str, status: str, phase: int) -> None:
    plan = replace(PLAN, inconclusive=InconclusivePolicy(policy))
    state, _ = canary.step(started(plan), Tick(verdict("inconclusive", "12 of 200 requests")), now=2 * H)
    assert (state.status, state.phase) == (status, phase)


def test_extend_adds_one_interval_at_a_time_up_to_the_phase_length_then_rolls_back() -> None:
    plan = replace(CanarySchedule.parse("5%:30m,100%", "15m"), inconclusive=InconclusivePolicy.EXTEND)
    state = started(plan)
    state, _ = canary.step(state, Tick(verdict("inconclusive")), now=1800)
    assert (state.extension_s, phase_left(state, 1800)) == (900, 900)
    state, _ = canary.step(state, Tick(verdict("inconclusive")), now=2700)
    assert state.extension_s == 1800
    state, _ = canary.step(state, Tick(verdict("inconclusive")), now=3600)
    assert state.status is CanaryStatus.ROLLED_BACK and "after extending" in state.reason
    # ...but a pass during an extension promotes.
    again, _ = canary.step(started(plan), Tick(verdict("inconclusive")), now=1800)
    again, _ = canary.step(again, Tick(verdict("pass")), now=2700)
    assert again.status is CanaryStatus.PROMOTED


def thin_billing(covered: bool, *, required: bool = True) -> CanaryVerdict:
    """A pass whose coverage says billing has 20 of the 58 labels it needs on the candidate."""
    row = {
        "category": "billing", "traffic_share": 0.05, "labels_baseline": 400,
        "labels_candidate": 58 if covered else 20, "labels_needed": 58, "covered": covered,
        "required": required, "required_share": 0.05, "eta_s": 3600.0,
    }  # fmt: skip
    return replace(verdict("pass"), extra={"coverage": [row]})


def test_a_pass_does_not_end_a_phase_while_a_required_category_lacks_labels() -> None:
    state, effects = canary.step(started(), Tick(thin_billing(covered=False)), now=2 * H)
    assert (state.status, state.phase, state.extension_s) == ("running", 0, 900)
    assert "billing: 20 of 58 labels on the candidate" in state.reason
    assert notes(effects) == ["canary.extended"]
    # The labels arrive during the extension: the phase ends and the ramp goes on.
    state, _ = canary.step(state, Tick(thin_billing(covered=True)), now=2.25 * H)
    assert (state.status, state.phase) == ("running", 1)


def test_a_category_under_the_required_share_never_holds_the_ramp() -> None:
    state, _ = canary.step(started(), Tick(thin_billing(covered=False, required=False)), now=2 * H)
    assert (state.status, state.phase) == ("running", 1)


@pytest.mark.parametrize(
    ("policy", "status"), [("rollback", "rolled_back"), ("hold", "holding"), ("extend", "rolled_back")]
)
def test_labels_still_missing_at_the_hold_limit_end_the_phase_inconclusive(policy: str, status: str) -> None:
    plan = replace(PLAN, inconclusive=InconclusivePolicy(policy))  # hold limit 4 h: 16 extensions of 15 min
    state, now = started(plan), 2 * H
    for _ in range(16):
        state, _ = canary.step(state, Tick(thin_billing(covered=False)), now=now)
        assert (state.status, state.phase) == ("running", 0)
        now += 900
    state, _ = canary.step(state, Tick(thin_billing(covered=False)), now=now)
    assert state.status == status, state
    assert "not enough labels to judge billing" in state.reason


def test_pause_stops_the_phase_timer_and_resume_continues_where_it_was() -> None:
    state, _ = canary.step(started(), Pause("ann"), now=H)
    assert phase_left(state, H) == phase_left(state, 5 * H) == H
    state, _ = canary.step(state, Tick(verdict("pass")), now=3 * H)
    assert (state.status, state.phase) == ("paused", 0)  # a pass does not advance while paused
    assert next_check_at(state) == 3 * H + 900
    state, effects = canary.step(state, Resume("ann"), now=5 * H)
    assert (state.status, phase_left(state, 5 * H), state.paused_s) == ("running", H, 4 * H)
    assert notes(effects) == ["canary.resumed"]
    state, _ = canary.step(state, Tick(verdict("pass")), now=6 * H)
    assert state.phase == 1


def test_a_rollback_verdict_still_rolls_back_while_paused() -> None:
    state, _ = canary.step(started(), Pause("ann"), now=H)
    state, _ = canary.step(state, Tick(verdict("rollback")), now=1.25 * H)
    assert state.status is CanaryStatus.ROLLED_BACK


@pytest.mark.parametrize("action", ["pass", "inconclusive", "hold", "investigate"])
@pytest.mark.parametrize("when", ["mid-phase", "phase end", "paused", "investigating"])
def test_a_guard_checks_verdict_other_than_rollback_changes_nothing(action: str, when: str) -> None:
    state = started()
    now = 20 * 60.0
    if when == "phase end":
        now = 2 * H + 60  # past the phase end: only a scheduled check advances
    elif when == "paused":
        state, _ = canary.step(state, Pause("ann"), now=10 * 60)
    elif when == "investigating":
        state, _ = canary.step(state, Tick(verdict("investigate")), now=15 * 60)
    new, effects = canary.step(state, GuardTick(verdict(action)), now=now)
    assert new == state and effects == []
    assert next_check_at(new) == next_check_at(state)


def test_a_guard_checks_rollback_verdict_rolls_back_at_once_and_is_recorded_as_a_check() -> None:
    state, effects = canary.step(started(), GuardTick(verdict("rollback", "billing accuracy fell")), now=240)
    assert (state.status, desired_route(state), state.looks) == ("rolled_back", ("blue", 0), 1)
    assert kinds(effects) == ["Record", "ApplyRoute", "Finish", "Record", "Notify"]
    check = effects[0]
    assert isinstance(check, Record) and check.event.kind == "check"
    assert check.event.reason == "guard check: billing accuracy fell"
    assert "guard check: billing accuracy fell" in state.reason
    assert notes(effects) == ["canary.rolled_back"]
    assert next_check_at(state) is None


def test_guard_checks_do_nothing_after_the_ramp() -> None:
    state, _ = canary.step(started(), Promote("ann"), now=H)
    assert state.status is CanaryStatus.PROMOTED
    assert canary.step(state, GuardTick(verdict("rollback")), now=H + 60) == (state, [])
    ended, _ = canary.step(started(), Abort("ann"), now=H)
    assert canary.step(ended, GuardTick(verdict("rollback")), now=H + 60) == (ended, [])


def test_the_plan_keeps_its_guard_interval() -> None:
    assert PLAN.guard_s == 60.0
    assert CanarySchedule.parse("5%:2h,100%", guard_interval="off").guard_s == 0.0
    assert CanarySchedule.parse("5%:2h,100%", guard_interval="0").guard_s == 0.0
    assert CanarySchedule.parse("5%:2h,100%", guard_interval="30s").guard_s == 30.0
    assert CanarySchedule.from_dict(PLAN.to_dict()) == PLAN
    old = {k: v for k, v in PLAN.to_dict().items() if k != "guard_s"}
    assert CanarySchedule.from_dict(old).guard_s == 0.0  # saved before guard checks: none


def test_promote_jumps_to_100_percent() -> None:
    state, effects = canary.step(started(), Promote("ann", "looks fine"), now=H)
    assert (state.status, desired_route(state)) == ("promoted", ("green", 0))
    assert any(isinstance(e, Finish) and e.status is DeploymentStatus.LIVE for e in effects)


@pytest.mark.parametrize("unload", [False, True])
def test_abort_sets_weight_0_and_unloads_only_when_asked(unload: bool) -> None:
    state, effects = canary.step(started(), Abort("ann", "wrong build", unload=unload), now=H)
    assert (state.status, desired_route(state)) == ("aborted", ("blue", 0))
    assert any(isinstance(e, Unload) and e.slot == "green" for e in effects) is unload


@pytest.mark.parametrize(
    ("state_change", "event", "message"),
    [
        ({}, Resume("ann"), "is not paused"),
        ({"status": CanaryStatus.PAUSED, "paused_at": 0.0}, Pause("ann"), "already paused"),
        ({"status": CanaryStatus.ROLLED_BACK}, Promote("ann"), "has ended"),
        ({"status": CanaryStatus.PROMOTED, "promoted_at": 0.0}, Abort("ann"), "slipway rollback"),
        ({"status": CanaryStatus.PROMOTED, "promoted_at": 0.0}, Pause("ann"), "monitoring window"),
    ],
)
def test_illegal_operator_moves_say_what_to_do(
    state_change: dict[str, object], event: canary.Event, message: str
) -> None:
    with pytest.raises(TransitionError, match=message) as caught:
        canary.step(replace(started(), **state_change), event, now=H)  # type: ignore[arg-type]
    assert caught.value.hint


def test_a_tick_after_the_end_changes_nothing() -> None:
    state = replace(started(), status=CanaryStatus.ABORTED)
    assert canary.step(state, Tick(verdict("rollback")), now=H) == (state, [])


@pytest.mark.parametrize(
    ("status", "active", "candidate_bp", "outcome"),
    [
        (CanaryStatus.RUNNING, "blue", 500, "running"),  # ours (e.g. a slot edit elsewhere): accepted
        (CanaryStatus.RUNNING, "blue", 0, "rolled_back"),
        (CanaryStatus.RUNNING, "green", 0, "superseded"),
        (CanaryStatus.RUNNING, "blue", 5000, "aborted"),
        (CanaryStatus.PROMOTED, "green", 0, "promoted"),
        (CanaryStatus.PROMOTED, "blue", 0, "rolled_back"),
        (CanaryStatus.PROMOTED, "red", 0, "superseded"),
    ],
)
def test_routes_changed_outside_the_canary(
    status: CanaryStatus, active: str, candidate_bp: int, outcome: str
) -> None:
    state = replace(started(), status=status, promoted_at=0.0, route_version=7, route_pending=False)
    state, _ = canary.step(state, RoutesChanged(9, active, candidate_bp, "v9 switch by bob"), now=H)
    assert (state.status, state.route_version) == (outcome, 9)


def test_progress_and_the_state_round_trip() -> None:
    state, _ = canary.step(started(), Tick(verdict("pass")), now=2 * H)
    assert ramp_progress(state, 4 * H) == pytest.approx(4 / 6)
    assert CanaryState.from_dict(state.to_dict()) == state
