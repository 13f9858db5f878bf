"""The decision framework as a table: which data makes which verdict, and why (DF1–DF4, CN2, CN5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from slipway.analysis.decide import (
    ALL_CATEGORIES,
    Action,
    Look,
    Outcome,
    blast_radius,
    judge,
    phase_end,
)
from slipway.analysis.samples import ArmSample, CategoryCount
from slipway.analysis.thresholds import (
    METRIC_NAMES,
    MetricAction,
    MetricThreshold,
    PhaseEndChoice,
    Thresholds,
)


@dataclass
class Arm:
    """A healthy arm; override what a case is about."""

    requests: int = 4000
    errors: int = 40
    streams: int = 2000
    aborted_streams: int = 10
    latency_factor: float = 1.0
    ttft_factor: float = 1.0
    length_sd: float = 80.0
    samples: int = 2000
    checked: int = 2000
    invalid: int = 6
    rated: int = 400
    satisfied: int = 320
    accuracy: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"billing": (400, 380), "shipping": (400, 372), "legal": (10, 9)}
    )
    seed: int = 0

    def sample(self, slot: str) -> ArmSample:
        rng = np.random.default_rng(self.seed)
        n = self.samples
        return ArmSample(
            slot=slot,
            requests=self.requests,
            errors=self.errors,
            streams=self.streams,
            aborted_streams=self.aborted_streams,
            latency_ms=rng.lognormal(6.5, 0.5, n) * self.latency_factor,
            ttft_ms=rng.lognormal(5.0, 0.4, n // 2) * self.ttft_factor,
            output_chars=np.maximum(rng.normal(300, self.length_sd, n), 0),
            checked_outputs=self.checked,
            invalid_outputs=self.invalid,
            rated=self.rated,
            satisfied=self.satisfied,
            per_category={c: CategoryCount(*v) for c, v in self.accuracy.items()},
            category_requests={
                "billing": self.requests // 2,
                "shipping": self.requests // 2 - 40,
                "legal": 40,
            },
        )


BASE = Arm(
    requests=40000,
    errors=400,
    streams=20000,
    aborted_streams=100,
    samples=8000,
    checked=8000,
    invalid=24,
    rated=4000,
    satisfied=3200,
    accuracy={"billing": (4000, 3800), "shipping": (4000, 3720), "legal": (100, 90)},
    seed=1,
)


def verdict_for(**candidate: Any) -> Any:
    return judge(BASE.sample("blue"), Arm(**candidate).sample("green"), Thresholds(), Look(3, 8))


@pytest.mark.parametrize(
    ("candidate", "action", "culprit", "outcome"),
    [
        ({}, Action.PASS, None, None),
        ({"errors": 200}, Action.ROLLBACK, "error_rate", Outcome.BREACH),
        ({"errors": 76}, Action.INVESTIGATE, "error_rate", Outcome.DRIFT),
        ({"latency_factor": 1.6}, Action.INVESTIGATE, "latency_p95", Outcome.BREACH),
        ({"latency_factor": 1.3}, Action.INVESTIGATE, "latency_p95", Outcome.DRIFT),
        ({"ttft_factor": 2.0}, Action.INVESTIGATE, "ttft_p95", Outcome.BREACH),
        ({"length_sd": 160.0}, Action.INVESTIGATE, "output_length_variance", Outcome.BREACH),
        ({"satisfied": 240}, Action.ROLLBACK, "satisfaction", Outcome.BREACH),
        ({"invalid": 60}, Action.ROLLBACK, "invalid_output_rate", Outcome.BREACH),
        ({"aborted_streams": 60}, Action.ROLLBACK, "stream_abort_rate", Outcome.BREACH),
        (
            {"accuracy": {"billing": (400, 280), "shipping": (400, 372), "legal": (10, 9)}},
            Action.ROLLBACK,
            "accuracy[billing]",
            Outcome.BREACH,
        ),
        ({"requests": 60, "errors": 1}, Action.INCONCLUSIVE, "error_rate", Outcome.INSUFFICIENT),
        ({"samples": 50}, Action.INCONCLUSIVE, "latency_p95", Outcome.INSUFFICIENT),
    ],
)
def test_each_threshold_triggers_its_action(
    candidate: dict[str, Any], action: Action, culprit: str | None, outcome: Outcome | None
) -> None:
    v = verdict_for(**candidate)
    assert v.action is action, v.reason
    assert v.reason.startswith(action.value)
    assert f"({action.framework})" in v.reason
    if culprit is not None:
        bad = {m.name: m for m in v.metrics}[culprit]
        assert bad.outcome is outcome
        assert culprit in v.reason


def test_a_minor_but_significant_slowdown_is_a_hold() -> None:
    base = Arm(samples=20000, seed=1).sample("blue")
    cand = Arm(samples=20000, latency_factor=1.1, seed=2).sample("green")
    v = judge(base, cand)
    assert v.action is Action.HOLD, v.reason
    assert v.metric("latency_p95").outcome is Outcome.MINOR
    assert v.decide_within_s == Thresholds().hold_for_s


def test_a_three_point_drop_on_plenty_of_labels_is_investigated_not_rolled_back() -> None:
    base = Arm(accuracy={"billing": (40000, 38000)}, seed=1).sample("blue")
    cand = Arm(accuracy={"billing": (10000, 9200)}, seed=1).sample("green")
    v = judge(base, cand)
    assert v.action is Action.INVESTIGATE, v.reason
    assert v.metric("accuracy", "billing").outcome is Outcome.DRIFT
    assert v.decide_within_s == Thresholds().investigate_within_s


def test_a_big_drop_in_a_thin_category_is_not_judged_by_the_metric_test() -> None:
    """Ten labels prove nothing either way: the metric is "not judged", not failed. Whether that may
    end a phase is the coverage rule's business (`analysis.coverage`, and the canary's phase end)."""
    v = verdict_for(accuracy={"billing": (400, 380), "shipping": (400, 372), "legal": (10, 2)})
    legal = v.metric("accuracy", "legal")
    assert legal.outcome is Outcome.INSUFFICIENT and legal.action is Action.PASS
    assert "too few samples" in legal.reason
    assert v.action is Action.PASS


def test_noise_past_the_threshold_without_significance_is_not_a_rollback() -> None:
    # 30 labels, 4 wrong (87 %) against 95 %: past 5 points, but well within chance.
    v = verdict_for(accuracy={"billing": (30, 26), "shipping": (400, 372), "legal": (10, 9)})
    billing = v.metric("accuracy", "billing")
    assert billing.estimate is not None and billing.estimate > 0.05
    assert billing.outcome is Outcome.OK and v.action is Action.PASS


def test_every_metric_and_category_is_reported_with_its_numbers() -> None:
    v = verdict_for()
    names = [m.name for m in v.metrics]
    for metric in METRIC_NAMES:
        if metric != "accuracy":
            assert metric in names
    assert {
        "accuracy[billing]",
        "accuracy[shipping]",
        "accuracy[legal]",
        f"accuracy[{ALL_CATEGORIES}]",
    } <= set(names)
    err = v.metric("error_rate")
    assert err.comparison is not None and err.test is not None
    assert err.interval is not None and err.interval[0] <= 1.0 <= err.interval[1]
    assert (err.n_candidate, err.n_baseline) == (4000, 40000)
    assert 0 < err.alpha < Thresholds().alpha
    assert err.p_value is not None and err.p_value > err.alpha
    with pytest.raises(KeyError):
        v.metric("nonsense")


def test_alpha_shares_add_up_to_the_family_alpha() -> None:
    v = verdict_for()
    categories = [m for m in v.metrics if m.metric == "accuracy"]
    others = {m.metric: m.alpha for m in v.metrics if m.metric != "accuracy"}
    t = Thresholds()
    assert sum(others.values()) + categories[0].alpha == pytest.approx(t.alpha)


def test_disabled_and_unavailable_metrics_do_not_block() -> None:
    t = Thresholds(satisfaction=MetricThreshold(threshold=0.1, action=MetricAction.ROLLBACK, enabled=False))
    base, cand = (
        BASE.sample("blue"),
        Arm(satisfied=100, rated=400, streams=0, aborted_streams=0).sample("green"),
    )
    v = judge(base, cand, t)
    assert v.metric("satisfaction").outcome is Outcome.UNAVAILABLE
    assert v.metric("stream_abort_rate").outcome is Outcome.INSUFFICIENT
    assert v.action is Action.PASS


def test_no_labels_at_all_is_unavailable() -> None:
    v = judge(Arm(accuracy={}).sample("blue"), Arm(accuracy={}).sample("green"))
    assert v.metric("accuracy").outcome is Outcome.UNAVAILABLE
    assert v.action is Action.PASS


def test_required_accuracy_without_enough_labels_is_inconclusive() -> None:
    t = Thresholds(accuracy=MetricThreshold(threshold=0.05, action=MetricAction.ROLLBACK, required=True))
    v = judge(BASE.sample("blue"), Arm(accuracy={"billing": (10, 9)}).sample("green"), t)
    assert v.action is Action.INCONCLUSIVE
    assert "no category has enough labels" in v.reason


def test_latency_can_be_made_a_rollback_metric() -> None:
    t = Thresholds(
        latency_p95=MetricThreshold(
            threshold=1.5, action=MetricAction.ROLLBACK, investigate_above=1.2, required=True
        )
    )
    v = judge(BASE.sample("blue"), Arm(latency_factor=1.8).sample("green"), t)
    assert v.action is Action.ROLLBACK


@pytest.mark.parametrize(
    ("action", "settings", "expected"),
    [
        (Action.PASS, {}, PhaseEndChoice.PROMOTE),
        (Action.ROLLBACK, {}, PhaseEndChoice.ROLLBACK),
        (Action.INVESTIGATE, {}, PhaseEndChoice.HOLD),
        (Action.HOLD, {}, PhaseEndChoice.PROMOTE),
        (Action.HOLD, {"hold_action": "extend"}, PhaseEndChoice.EXTEND),
        (Action.INCONCLUSIVE, {}, PhaseEndChoice.ROLLBACK),
        (Action.INCONCLUSIVE, {"inconclusive_action": "extend"}, PhaseEndChoice.EXTEND),
        (Action.INCONCLUSIVE, {"inconclusive_action": "hold"}, PhaseEndChoice.HOLD),
    ],
)
def test_phase_end(action: Action, settings: dict[str, Any], expected: PhaseEndChoice) -> None:
    v = verdict_for()
    forced = type(v)(action, "x", v.metrics, Look(8, 8))
    assert phase_end(forced, Thresholds.model_validate(settings)) is expected


def test_look() -> None:
    assert Look(8, 8).is_final and Look(9, 8).is_final and not Look(1, 8).is_final
    with pytest.raises(ValueError, match="1-based"):
        Look(0, 8)


def test_thresholds_validate_and_default_to_the_seed_table() -> None:
    t = Thresholds()
    assert (t.error_rate.threshold, t.error_rate.action) == (2.0, MetricAction.ROLLBACK)
    assert (t.latency_p95.threshold, t.latency_p95.action) == (1.5, MetricAction.INVESTIGATE)
    assert (t.satisfaction.threshold, t.satisfaction.action) == (0.10, MetricAction.ROLLBACK)
    assert (t.output_length_variance.threshold, t.output_length_variance.action) == (
        2.0,
        MetricAction.INVESTIGATE,
    )
    assert (t.accuracy.threshold, t.accuracy.action) == (0.05, MetricAction.ROLLBACK)
    assert t.inconclusive_action is PhaseEndChoice.ROLLBACK
    with pytest.raises(ValidationError, match="must not exceed threshold"):
        MetricThreshold(threshold=1.5, action=MetricAction.INVESTIGATE, investigate_above=2.0)
    with pytest.raises(ValidationError):
        Thresholds.model_validate({"latency_p99": {"threshold": 2}})


def test_blast_radius_counts_the_candidates_share_overall_and_per_category() -> None:
    base = BASE.sample("blue")
    cand = Arm(accuracy={"billing": (400, 280), "shipping": (400, 372), "legal": (10, 9)}).sample("green")
    v = judge(base, cand)
    radius = blast_radius(cand, [base, cand], v)
    assert radius.candidate_requests == 4000 and radius.total_requests == 44000
    assert radius.share == pytest.approx(4000 / 44000)
    billing = {c.category: c for c in radius.per_category}["billing"]
    assert billing.failing and billing.share == pytest.approx(2000 / 22000)
    assert billing.excess_wrong == pytest.approx(2000 * (0.95 - 0.70))
    assert [c.category for c in radius.failing_categories] == ["billing"]
    assert "9.1 % of all traffic" in radius.summary() and "billing" in radius.summary()
    # The same from a pooled sample, and without a verdict nothing is marked failing.
    pooled = blast_radius(cand, ArmSample.pooled([base, cand]))
    assert pooled.share == radius.share and not pooled.failing_categories


def test_when_only_the_pooled_accuracy_fires_the_headline_names_the_category_that_lost_most() -> None:
    # Both categories a little worse, neither significant alone; pooled, they are.
    v = verdict_for(accuracy={"billing": (150, 130), "shipping": (150, 128), "legal": (10, 9)})
    assert v.action is Action.ROLLBACK
    assert v.metric("accuracy", ALL_CATEGORIES).action is Action.ROLLBACK
    assert v.metric("accuracy", "billing").action is Action.PASS
    hint = "; most of it is billing (0.95 → 0.87, not significant on its own yet)"
    assert v.reason.endswith(hint), v.reason


def test_a_category_that_fires_itself_needs_no_hint() -> None:
    v = verdict_for(accuracy={"billing": (400, 280), "shipping": (400, 372), "legal": (10, 9)})
    assert "most of it is" not in v.reason
