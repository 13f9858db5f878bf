"""The postmortem and regression cases over a real store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json

from tests.postmortem_story import DEPLOYMENT, HOUR, T0, rolled_back_canary

from slipway.app.postmortem import PostmortemService
from slipway.core.errors import NotFoundError
from slipway.store import Store


async def test_the_postmortem_counts_in_sql_what_the_records_say_and_names_billing_and_long_inputs(
    store: Store,
) -> None:
    story = await rolled_back_canary(store, records=3_000)
    service = PostmortemService(store)

    pm = await service.postmortem(None)  # the latest rolled-back deployment

    assert pm.rollout.deployment_id == DEPLOYMENT and pm.served.requests == story.candidate_requests
    assert pm.wrong == story.candidate_wrong
    billing = next(c for c in pm.categories if c.category == "billing")
    assert billing.wrong == story.candidate_wrong_billing
    significant = {(f.dimension, f.value) for f in pm.findings if f.significant}
    assert ("category", "billing") in significant and ("length", "long (>1000 chars)") in significant
    assert "evaluation missed it: suite core v1 had 2 cases in billing and passed" in pm.cause
    assert any(s.startswith("billing rose from 5% to ") for s in pm.cause)
    assert [t.kind for t in pm.timeline] == ["deploy", "canary check", "canary rollback"]
    body, media = await service.report(DEPLOYMENT, "html")
    assert media.startswith("text/html") and "long inputs (&gt;1000 chars)" in body


async def test_regression_cases_are_a_new_suite_version_once_and_the_export_is_jsonl(store: Store) -> None:
    await rolled_back_canary(store, records=2_000, evaluated=False)
    service = PostmortemService(store, wall=lambda: T0 + 3 * HOUR)

    added = await service.add_regressions(
        DEPLOYMENT, suite="billing-regressions", redact=[r"order \d+"], actor="ann"
    )
    again = await service.add_regressions(
        DEPLOYMENT, suite="billing-regressions", redact=[r"order \d+"], actor="ann"
    )
    export = await service.export_regressions(DEPLOYMENT, fmt="jsonl", redact=[r"order \d+"])

    suite = await store.get_suite("billing-regressions")
    assert suite is not None and suite.version == added["version"] == again["version"] == 1
    assert (
        suite.actor == "ann"
        and suite.created_at == T0 + 3 * HOUR
        and "regressions from deployment" in suite.note
    )
    assert [c["id"] for c in suite.cases] == [c["id"] for c in added["cases"]] and added["added"] > 0
    # Short billing tickets differ only by their order number: redacted, they are one case
    short = [c for c in suite.cases if "refund my invoice please" in json.dumps(c)]
    assert [c["messages"][0]["content"] for c in short] == ["refund my invoice please, [redacted]"]
    assert again["added"] == 0 and set(again["skipped"]) == {"already in the suite"}
    rows = [json.loads(line) for line in export.splitlines()]
    assert len(rows) == added["added"] and all(r["messages"][-1]["role"] == "assistant" for r in rows)


async def test_an_unknown_deployment_or_none_rolled_back_is_a_clear_not_found(store: Store) -> None:
    service = PostmortemService(store)
    for ask in (None, "nope"):
        try:
            await service.postmortem(ask)
        except NotFoundError as exc:
            assert "`slipway deployments` lists them" in str(exc)
        else:
            raise AssertionError("a postmortem without a deployment")


async def test_a_retry_date_is_kept_on_the_deployment_and_said_by_the_postmortem(store: Store) -> None:
    await rolled_back_canary(store, records=500, evaluated=False)
    service = PostmortemService(store, wall=lambda: T0 + 3 * HOUR)

    done = await service.set_retry(DEPLOYMENT, "2023-11-20T09:00Z", actor="ann")

    assert done == {"deployment_id": DEPLOYMENT, "retry_at": 1_700_470_800.0, "actor": "ann"}
    pm = await service.postmortem(DEPLOYMENT)
    assert pm.retry == "retry planned for 2023-11-20 09:00 UTC"
    assert pm.rollout.ended_at == T0 + 2 * HOUR  # when it ended is not moved by the note


async def test_without_an_evaluation_the_mix_is_compared_with_production_before_the_rollout(
    store: Store,
) -> None:
    await rolled_back_canary(store, records=3_000, evaluated=False)

    pm = await PostmortemService(store).postmortem(DEPLOYMENT)

    assert pm.evaluation is None and pm.mix_reference == "compared with production before the rollout"
    (category,) = [m for m in pm.mix if m.drift.dimension == "category"]
    assert category.drift.drifted and category.drift.reference_n == 750
    (said,) = category.sentences
    assert said.startswith("billing rose from 2") and said.endswith(
        "% of traffic compared with production before the rollout"
    )


async def test_when_drift_compares_with_traffic_the_mix_is_quoted_against_production_even_if_evaluated(
    store: Store,
) -> None:
    await rolled_back_canary(store, records=3_000)

    pm = await PostmortemService(store, reference_from=lambda: "traffic").postmortem(DEPLOYMENT)

    # The evaluation is still said (what it missed); the mix is against what drift compares with.
    assert pm.evaluation is not None
    assert pm.mix_reference == "compared with production before the rollout"
    default = await PostmortemService(store).postmortem(DEPLOYMENT)
    assert default.mix_reference is not None and default.mix_reference.endswith("'s evaluation")
