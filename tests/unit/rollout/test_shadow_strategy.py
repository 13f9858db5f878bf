"""Shadow runs as pure decisions: how one starts, when and why it ends by itself, how it is promoted.

Promotion follows the report's verdict: go promotes, anything else is refused unless forced with a reason.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from slipway.core.errors import ConfigError, TransitionError
from slipway.core.shadow import (
    ForcedPromotion,
    PromoteVia,
    ShadowRun,
    ShadowStatus,
    ShadowUntil,
    parse_until,
)
from slipway.core.types import RouteTable, Slot
from slipway.rollout.strategies import shadow

DAY = 86_400.0
T0 = 1_800_000_000.0

BLUE = Slot("blue", "http://127.0.0.1:1", "cs-v2.1")
GREEN = Slot("green", "http://127.0.0.1:2", "cs-v2.2")
SLOTS = {"blue": BLUE, "green": GREEN}
MIRRORING = RouteTable(
    version=3, slots=SLOTS, active="blue", mirror="green", mirror_bp=2_500, mirror_run="dep-1"
)
FINAL = [status for status in ShadowStatus if status is not ShadowStatus.RUNNING]


def _run(*, pairs: int | None = None, seconds: float = 7 * DAY, now: float = T0) -> ShadowRun:
    return shadow.start(
        deployment_id="dep-1",
        version="cs-v2.2",
        production="blue",
        candidate="green",
        sample_bp=2_500,
        until=ShadowUntil(pairs=pairs, seconds=seconds),
        actor="ann",
        now=now,
    )


# ---------------------------------------------------------------- start


def test_start_is_a_running_run_that_expires_after_its_length() -> None:
    run = _run(pairs=2000, seconds=3 * DAY)
    assert (run.deployment_id, run.version, run.production, run.candidate, run.sample_bp) == (
        "dep-1",
        "cs-v2.2",
        "blue",
        "green",
        2_500,
    )
    assert (run.started_at, run.expires_at, run.until_pairs) == (T0, T0 + 3 * DAY, 2000)
    assert (run.status, run.ended_at, run.reason, run.actor, run.promoted_via) == (
        ShadowStatus.RUNNING,
        None,
        "",
        "ann",
        None,
    )


@pytest.mark.parametrize(
    ("until", "pairs", "length"),
    [
        ("2000-pairs", 2000, 7 * DAY),  # no duration: the default expiry
        ("14d", None, 14 * DAY),
        ("2000-pairs,3d", 2000, 3 * DAY),
        ("30d", None, 30 * DAY),  # the longest a run may last
    ],
)
def test_start_takes_its_bounds_from_until(until: str, pairs: int | None, length: float) -> None:
    run = shadow.start(
        deployment_id="d",
        version="v",
        production="blue",
        candidate="green",
        sample_bp=10_000,
        until=parse_until(until),
        actor="a",
        now=T0,
    )
    assert (run.until_pairs, run.expires_at - run.started_at) == (pairs, length)


# ---------------------------------------------------------------- due_end: a run that goes on


def test_a_fresh_run_with_its_mirror_in_place_goes_on() -> None:
    assert shadow.due_end(_run(pairs=2000), 0, MIRRORING, T0) is None


@pytest.mark.parametrize("pairs", [0, 1, 1999])
def test_fewer_pairs_than_asked_for_go_on(pairs: int) -> None:
    assert shadow.due_end(_run(pairs=2000), pairs, MIRRORING, T0 + DAY) is None


def test_without_a_pair_target_no_number_of_pairs_ends_the_run() -> None:
    assert shadow.due_end(_run(pairs=None), 10**9, MIRRORING, T0 + DAY) is None


def test_a_run_goes_on_until_the_moment_it_expires() -> None:
    run = _run(seconds=DAY)
    assert shadow.due_end(run, 5, MIRRORING, run.expires_at - 0.001) is None


@pytest.mark.parametrize("status", FINAL)
def test_a_run_that_has_ended_never_ends_again(status: ShadowStatus) -> None:
    ended = shadow.end(_run(pairs=10, seconds=DAY), status, "earlier", T0 + 1)
    unmirrored = RouteTable(version=4, slots=SLOTS, active="blue")
    # Every reason to end holds at once (table changed, pairs reached, time up): still nothing.
    assert shadow.due_end(ended, 10, unmirrored, T0 + 2 * DAY) is None


# ---------------------------------------------------------------- due_end: a run that ends


@pytest.mark.parametrize(
    "table",
    [
        replace(MIRRORING, mirror=None, mirror_bp=0, mirror_run=None),  # the mirror was removed
        replace(MIRRORING, mirror="blue"),
        replace(MIRRORING, mirror_run="dep-2"),
        replace(MIRRORING, mirror_run=None),
    ],
    ids=["no-mirror", "other-slot", "other-run", "no-run"],
)
def test_a_route_table_changed_by_hand_stops_the_run(table: RouteTable) -> None:
    assert shadow.due_end(_run(pairs=2000), 0, table, T0) == (
        ShadowStatus.STOPPED,
        "the route table no longer mirrors to the candidate (changed by hand)",
    )


@pytest.mark.parametrize("pairs", [2000, 2001, 50_000])
def test_reaching_the_pairs_asked_for_completes_the_run(pairs: int) -> None:
    assert shadow.due_end(_run(pairs=2000), pairs, MIRRORING, T0 + DAY) == (
        ShadowStatus.COMPLETE,
        f"collected {pairs} pairs (asked for 2000)",
    )


@pytest.mark.parametrize(
    ("seconds", "days"),
    [(7 * DAY, "7"), (1.5 * DAY, "1.5"), (30 * DAY, "30"), (DAY / 4, "0.25")],
)
def test_running_out_of_time_expires_the_run_and_says_how_long_it_ran(seconds: float, days: str) -> None:
    run = _run(seconds=seconds)
    assert shadow.due_end(run, 312, MIRRORING, run.expires_at) == (
        ShadowStatus.EXPIRED,
        f"ran for its {days} days with 312 pairs; mirroring stopped",
    )


def test_a_run_long_past_its_expiry_still_names_its_own_length() -> None:
    run = _run(seconds=3 * DAY)
    status, reason = shadow.due_end(run, 0, MIRRORING, run.expires_at + 10 * DAY) or (None, "")
    assert status is ShadowStatus.EXPIRED and reason.startswith("ran for its 3 days with 0 pairs")


def test_a_changed_route_table_outranks_the_pairs_and_the_time() -> None:
    run = _run(pairs=10, seconds=DAY)
    unmirrored = RouteTable(version=4, slots=SLOTS, active="blue")
    due = shadow.due_end(run, 10, unmirrored, run.expires_at + 1)
    assert due is not None and due[0] is ShadowStatus.STOPPED


def test_the_pairs_asked_for_outrank_the_time() -> None:
    run = _run(pairs=10, seconds=DAY)
    assert shadow.due_end(run, 10, MIRRORING, run.expires_at + 1) == (
        ShadowStatus.COMPLETE,
        "collected 10 pairs (asked for 10)",
    )


# ---------------------------------------------------------------- end


def test_end_records_status_reason_time_and_who_without_touching_the_run() -> None:
    run = _run(pairs=2000)
    ended = shadow.end(run, ShadowStatus.STOPPED, "operator: wrong candidate", T0 + 60, actor="bob")
    assert (ended.status, ended.reason, ended.ended_at, ended.actor) == (
        ShadowStatus.STOPPED,
        "operator: wrong candidate",
        T0 + 60,
        "bob",
    )
    # What the run was keeps: its slots, share, bounds and start.
    assert (ended.production, ended.candidate, ended.sample_bp, ended.until_pairs, ended.started_at) == (
        "blue",
        "green",
        2_500,
        2000,
        T0,
    )
    assert run.status is ShadowStatus.RUNNING and run.ended_at is None and run.actor == "ann"


def test_an_ending_slipway_decides_is_signed_by_slipway() -> None:
    run = _run(pairs=10)
    status, reason = shadow.due_end(run, 10, MIRRORING, T0 + 5) or (ShadowStatus.RUNNING, "")
    assert shadow.end(run, status, reason, T0 + 5).actor == "slipway"


# ---------------------------------------------------------------- promoted


@pytest.mark.parametrize("via", list(PromoteVia))
def test_promoting_a_running_run_ends_it_now(via: PromoteVia) -> None:
    out = shadow.promoted(_run(pairs=2000), via, T0 + 100, actor="cat")
    assert (out.status, out.promoted_via, out.reason, out.ended_at, out.actor) == (
        ShadowStatus.PROMOTED,
        via,
        f"promoted through {via.value}",
        T0 + 100,
        "cat",
    )


def test_promoting_an_ended_run_keeps_when_and_why_it_ended() -> None:
    run = _run(pairs=10)
    done = shadow.end(run, ShadowStatus.COMPLETE, "collected 10 pairs (asked for 10)", T0 + 50)
    out = shadow.promoted(done, PromoteVia.CANARY, T0 + 9_000, actor="cat")
    assert (out.status, out.ended_at, out.actor) == (ShadowStatus.PROMOTED, T0 + 50, "cat")
    assert out.reason == "promoted through canary after: collected 10 pairs (asked for 10)"
    assert done.status is ShadowStatus.COMPLETE and done.promoted_via is None


def test_a_promoted_run_survives_a_round_trip_through_its_dict() -> None:
    out = shadow.promoted(_run(pairs=2000, seconds=3 * DAY), PromoteVia.BLUEGREEN, T0 + 7, actor="cat")
    assert ShadowRun.from_dict(out.to_dict()) == out


def test_promoting_a_run_the_hand_over_stopped_does_not_repeat_the_stop() -> None:
    stopped = shadow.end(_run(), ShadowStatus.STOPPED, shadow.handing_over(PromoteVia.CANARY, None), T0 + 5)
    out = shadow.promoted(stopped, PromoteVia.CANARY, T0 + 6, actor="cat")
    assert out.reason == "promoted through canary"


# ---------------------------------------------------------------- the report's verdict gates promotion

NOT_YET = ("400 pairs of the 1000 needed for a verdict", "already flagged: category = billing: 95 % → 30 %")


def test_a_go_promotes_without_force_and_records_no_override() -> None:
    assert shadow.promotion_gate(_run(), "go", ("all fine",), force=False, why="", actor="cat") is None
    assert shadow.promotion_gate(_run(), "go", ("all fine",), force=True, why="sure", actor="cat") is None


@pytest.mark.parametrize("decision", ["no-go", "not yet"])
def test_any_other_verdict_is_refused_naming_it_its_reasons_and_how_to_override(decision: str) -> None:
    with pytest.raises(TransitionError) as refused:
        shadow.promotion_gate(_run(), decision, NOT_YET, force=False, why="", actor="cat")
    message = refused.value.message
    assert f"verdict on cs-v2.2 is {decision.upper()}, so it was not promoted" in message
    assert all(reason in message for reason in NOT_YET)
    assert (
        refused.value.hint is not None
        and 'add --force --reason "..." to promote anyway' in refused.value.hint
    )


def test_a_refusal_quotes_the_first_reasons_and_points_to_the_report_for_the_rest() -> None:
    reasons = [f"category = c{i}: worse" for i in range(8)]
    with pytest.raises(TransitionError) as refused:
        shadow.promotion_gate(_run(), "no-go", reasons, force=False, why="", actor="cat")
    assert "c4: worse; and 3 more (see slipway shadow report)" in refused.value.message
    assert "c5" not in refused.value.message


def test_force_is_the_override_over_which_verdict_by_whom_and_why() -> None:
    forced = shadow.promotion_gate(
        _run(), "not yet", NOT_YET, force=True, why="billing fix verified by hand", actor="cat"
    )
    assert forced == ForcedPromotion("not yet", NOT_YET, "billing fix verified by hand", "cat")
    assert forced.words() == "forced over the shadow report's NOT YET by cat: billing fix verified by hand"


@pytest.mark.parametrize("why", [None, "", "   "])
def test_force_without_a_reason_is_refused(why: str | None) -> None:
    with pytest.raises(ConfigError) as refused:
        shadow.check_force(True, why)
    assert "--force needs a reason" in str(refused.value) and refused.value.field == "reason"
    assert shadow.check_force(False, why) == ""
    assert shadow.check_force(True, "  ok  ") == "ok"


@pytest.mark.parametrize("via", list(PromoteVia))
def test_a_forced_promotion_says_so_in_the_runs_reason_and_keeps_the_override(via: PromoteVia) -> None:
    forced = ForcedPromotion("no-go", NOT_YET, "hotfix needed now", "cat")
    stopped = shadow.end(_run(), ShadowStatus.STOPPED, shadow.handing_over(via, forced), T0 + 5)
    assert stopped.reason == f"promoting through {via.value}, {forced.words()}"
    out = shadow.promoted(stopped, via, T0 + 6, actor="cat", forced=forced)
    assert out.forced == forced
    assert out.reason == (
        f"promoted through {via.value}, forced over the shadow report's NO-GO by cat: hotfix needed now"
    )
    assert ShadowRun.from_dict(out.to_dict()) == out
    assert out.to_dict()["forced"] == {
        "verdict": "no-go", "reasons": list(NOT_YET), "why": "hotfix needed now", "actor": "cat"
    }  # fmt: skip


def test_a_run_saved_before_forced_promotions_existed_still_loads() -> None:
    data = _run().to_dict()
    del data["forced"]
    assert ShadowRun.from_dict(data).forced is None
