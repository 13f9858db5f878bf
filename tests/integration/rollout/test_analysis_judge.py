"""The judge behind the CanaryJudge port, on a real SQLite store: the verdict and the numbers behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from slipway.analysis.thresholds import Thresholds
from slipway.core.canary import JudgeRequest, VerdictAction
from slipway.core.records import Feedback, RequestRecord
from slipway.rollout.analysis_judge import AnalysisJudge, thresholds_from
from slipway.store import Store, default_store_url, open_store

T0 = 1_700_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(default_store_url(tmp_path))
    try:
        yield opened
    finally:
        await opened.close()


async def arm(store: Store, slot: str, n: int, *, billing_accuracy: float, start: float = T0) -> None:
    """`n` requests over 15 minutes, half billing and half shipping, each labelled afterwards."""
    rng = np.random.default_rng(len(slot))
    records = []
    for i in range(n):
        category = "billing" if i % 2 == 0 else "shipping"
        right = category != "billing" or rng.random() < billing_accuracy
        records.append(
            RequestRecord(
                request_id=f"{slot}-{i}",
                started_at=start + i * 900 / n,
                slot=slot,
                version=slot,
                api="openai.chat",
                stream=False,
                route_version=3,
                category=category,
                status=200,
                latency_ms=float(rng.normal(10, 1)),
                output_chars=8,
                output_head=category if right else "account",
            )
        )
    await store.write_records(records)
    for rec in records:
        await store.add_feedback(Feedback(rec.request_id, rec.started_at + 60, label=rec.category))


def request(**changes: object) -> JudgeRequest:
    values: dict[str, object] = {
        "deployment_id": "d1", "baseline_slot": "blue", "candidate_slot": "green",
        "baseline_since": T0, "baseline_until": T0 + 900, "candidate_since": T0, "candidate_until": T0 + 900,
        "look": 1, "phase": 0, "weight_bp": 1000, "phase_look": 1, "planned_looks": 8,
    }  # fmt: skip
    values.update(changes)
    return JudgeRequest(**values)  # type: ignore[arg-type]


async def test_a_category_regression_is_a_rollback_with_its_numbers_and_the_blast_radius(
    store: Store,
) -> None:
    await arm(store, "blue", 1800, billing_accuracy=0.97)
    await arm(store, "green", 240, billing_accuracy=0.6)
    verdict = await AnalysisJudge(store).evaluate(request())

    assert verdict.action is VerdictAction.ROLLBACK and "billing" in verdict.reason
    rows = {(r.metric, r.category): r for r in verdict.metrics}
    billing = rows[("accuracy", "billing")]
    assert billing.action is VerdictAction.ROLLBACK and billing.threshold == "> 5 points drop"
    assert billing.candidate is not None and billing.baseline is not None
    assert billing.candidate < 0.7 < 0.9 < billing.baseline and billing.n_candidate == 120
    assert "p=" in billing.detail
    assert rows[("error_rate", None)].threshold == "> 2× production"
    assert ("ttft_p95", None) not in rows  # nothing streamed: an unavailable metric is left out
    assert verdict.extra["framework"] == "roll back at once"
    assert "of billing" in str(verdict.extra["blast_radius_summary"])


async def test_too_little_traffic_is_inconclusive_and_the_thresholds_are_the_configured_ones(
    store: Store,
) -> None:
    await arm(store, "blue", 400, billing_accuracy=0.97)
    await arm(store, "green", 40, billing_accuracy=0.97)
    assert (await AnalysisJudge(store).evaluate(request())).action is VerdictAction.INCONCLUSIVE
    relaxed = thresholds_from({"error_rate": {"min_samples": 10}, "latency_p95": {"min_samples": 10}})
    assert relaxed.error_rate.threshold == 2.0 and relaxed.accuracy == Thresholds().accuracy
    verdict = await AnalysisJudge(store, lambda: relaxed).evaluate(request())
    assert verdict.action is VerdictAction.PASS


async def test_after_promotion_each_arm_is_read_over_its_own_window(store: Store) -> None:
    await arm(store, "blue", 400, billing_accuracy=0.97)
    await arm(store, "green", 400, billing_accuracy=0.97, start=T0 + 900)
    verdict = await AnalysisJudge(store).evaluate(
        request(baseline_until=T0 + 900, candidate_since=T0 + 900, candidate_until=T0 + 1800, monitoring=True)
    )
    rows = {(r.metric, r.category): r for r in verdict.metrics}
    assert (rows[("error_rate", None)].n_baseline, rows[("error_rate", None)].n_candidate) == (400, 400)
    assert "blast_radius" not in verdict.extra
