"""The drift watch against a version's evaluation data, on a real SQLite store.

The suites and runs are stored as `slipway eval` stores them; the records
as the recorder writes them. Each comparison is one `check` call.
"""

from __future__ import annotations

from typing import Any

from tests.clock import ManualClock
from tests.integration.drift.test_drift_watch import SHORT, Routes, Told, Traffic, store, table

from slipway.app.drift_watch import DriftWatch
from slipway.core.drift_config import DriftConfig
from slipway.core.lifecycle import EvalRunRecord
from slipway.store import Store

__all__ = ["store"]  # the fixture, used by name

AUTO = DriftConfig(window=300, reference=600)
EVALUATION = DriftConfig(window=300, reference=600, reference_from="evaluation")
TRAFFIC = DriftConfig(window=300, reference=600, reference_from="traffic")


def cases(billing: int, shipping: int) -> list[dict[str, Any]]:
    """Suite cases as `slipway eval add` keeps them, worded as the traffic is: only the category differs."""
    out = []
    for i in range(billing + shipping):
        category = "billing" if i < billing else "shipping"
        out.append(
            {
                "id": f"c{i}",
                "prompt": SHORT,
                "expect": {"label": category},
                "category": category,
            }
        )
    return out


async def evaluated(store: Store, version: str, suite_cases: list[dict[str, Any]], at: float) -> str:
    """Store a suite version and a run of it against `version`; the run's id."""
    suite = await store.add_suite_version("support", at=at, actor="ann", note="", rule={}, cases=suite_cases)
    run_id = f"eval-{int(at)}"
    await store.add_eval_run(
        EvalRunRecord(
            id=run_id, at=at, suite="support", suite_version=suite.version, slot="blue", slot_version=version,
            passed=True, actor="ann", result={},
        )
    )  # fmt: skip
    return run_id


def watch(store: Store, told: Told, cfg: DriftConfig) -> DriftWatch:
    return DriftWatch(
        store=store, routes=Routes(table()), notifier=told, config=lambda: cfg, clock=ManualClock()
    )


async def test_a_mix_unlike_the_evaluation_is_flagged_against_it_and_not_against_the_traffic(
    store: Store,
) -> None:
    told, traffic = Told(), Traffic(store)
    # v2.1 was evaluated on 80 % billing; its traffic has always been half and half.
    await evaluated(store, "v2.1", cases(billing=240, shipping=60), at=1.0)
    await traffic.send_mix(900, long_every=1000)

    against_evaluation = await watch(store, told, AUTO).check(AUTO)
    assert against_evaluation["reference"] == "evaluation", against_evaluation
    assert against_evaluation["reference_name"] == "v2.1's evaluation"
    assert against_evaluation["reference_suite"] == "suite support v1 (300 cases)"
    assert against_evaluation["reference_requests"] == 300
    (category,) = [d for d in against_evaluation["dimensions"] if d["dimension"] == "category"]
    assert category["drifted"] and "billing fell from 80% to 50%" in category["words"], category

    against_traffic = await watch(store, told, TRAFFIC).check(TRAFFIC)
    assert against_traffic["state"] == "steady", against_traffic["dimensions"]
    assert against_traffic["reference_name"] == "v2.1's first 600 requests"


async def test_the_drift_is_told_since_the_evaluation(store: Store) -> None:
    told, traffic = Told(), Traffic(store)
    await evaluated(store, "v2.1", cases(billing=240, shipping=60), at=1.0)
    await traffic.send_mix(300, long_every=1000)
    drift = watch(store, told, EVALUATION)
    await drift.check(EVALUATION)
    assert (await drift.check(EVALUATION))["confirmed"] == ["category"]
    (note,) = told.notes
    assert note.title.startswith("input drift since v2.1's evaluation: category: drifted"), note.title
    assert note.facts["reference"] == "v2.1's evaluation"


async def test_auto_takes_the_traffic_when_the_suite_is_small_and_evaluation_says_what_is_missing(
    store: Store,
) -> None:
    told, traffic = Told(), Traffic(store)
    await traffic.send_mix(900, long_every=1000)
    missing = await watch(store, told, EVALUATION).check(EVALUATION)
    assert missing["state"] == "no reference", missing
    assert "v2.1 has no evaluation run" in missing["reference_missing"]

    await evaluated(store, "v2.1", cases(billing=40, shipping=10), at=1.0)
    small = await watch(store, told, AUTO).check(AUTO)
    assert (small["reference"], small["state"]) == ("traffic", "steady"), small
    # Asked for explicitly, even a small suite is the reference (its dimensions say they lack cases).
    explicit = await watch(store, told, EVALUATION).check(EVALUATION)
    assert explicit["reference"] == "evaluation" and explicit["reference_requests"] == 50
    (category,) = [d for d in explicit["dimensions"] if d["dimension"] == "category"]
    assert category["unjudged"] == "50 requests, 200 needed"
    assert told.events() == []


async def test_a_later_evaluation_makes_the_reference_again(store: Store) -> None:
    told, traffic = Told(), Traffic(store)
    await evaluated(store, "v2.1", cases(billing=240, shipping=60), at=1.0)
    await traffic.send_mix(300, long_every=1000)
    drift = watch(store, told, EVALUATION)
    assert (await drift.check(EVALUATION))["state"] == "drifted"
    # Evaluated again on a suite grown to the traffic's mix: compared with that one from now on.
    await evaluated(store, "v2.1", cases(billing=150, shipping=150), at=2.0)
    again = await drift.check(EVALUATION)
    assert (again["state"], again["reference_suite"]) == ("steady", "suite support v2 (300 cases)"), again


async def test_a_stored_suite_that_is_no_longer_valid_is_said_not_used(store: Store) -> None:
    told, traffic = Told(), Traffic(store)
    broken = cases(billing=150, shipping=150)
    broken[7] = {"id": "c7", "prompt": SHORT, "bogus": 1}  # a field no case has: not a case any more
    await evaluated(store, "v2.1", broken, at=1.0)
    await traffic.send_mix(900, long_every=1000)
    report = await watch(store, told, EVALUATION).check(EVALUATION)
    assert report["state"] == "no reference", report
    assert report["reference_missing"].startswith("suite support v1 cannot be read as a reference:"), report
    # With auto, the version's first requests stand in.
    assert (await watch(store, told, AUTO).check(AUTO))["reference"] == "traffic"
