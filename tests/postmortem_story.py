"""A rolled-back canary in the store, built directly: for postmortem tests and the postmortem bench.

Production (blue, v2.1) served an hour before the canary with billing at
20 % of traffic; during the canary billing is 35 %. The candidate (green,
v2.2) answers shipping right, short billing questions mostly right, and long
billing questions (over 1000 characters, a pasted invoice) mostly wrong:
the postmortem must name billing and long inputs. Labels arrive for most
requests; every request's input is stored. Randomness is seeded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import create_engine, insert

from slipway.core.canary import CanaryEvent, CanaryRecord, CanaryVerdict, MetricRow, VerdictAction
from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.core.lifecycle import EvalRunRecord, RequestInput
from slipway.core.records import RequestRecord
from slipway.store import Store
from slipway.store.schema import feedback

T0 = 1_700_000_000.0
HOUR = 3600.0
DEPLOYMENT = "dep-v22-canary"
INVOICE = "Invoice INV-2291, line items: " + "widget x1 at 9.99; " * 60


@dataclass(frozen=True, slots=True)
class Story:
    deployment: Deployment
    candidate_requests: int
    candidate_wrong: int
    candidate_wrong_billing: int


def _input(rng: random.Random, category: str, i: int) -> tuple[str, bool]:
    if category == "billing":
        long = rng.random() < 0.4
        text = (
            f"why was I charged twice? {INVOICE} ref {i}" if long else f"refund my invoice please, order {i}"
        )
        return text, long
    return f"where is my parcel {i}", False


async def rolled_back_canary(
    store: Store,
    *,
    records: int = 4_000,
    candidate_share: float = 0.3,
    labelled: float = 0.7,
    evaluated: bool = True,
    seed: int = 0,
) -> Story:
    """Write the canary's records, labels, inputs, timeline and evaluation; return what was written."""
    rng = random.Random(seed)
    before = records // 4
    during = records - before
    rows: list[RequestRecord] = []
    inputs: list[RequestInput] = []
    labels: list[dict[str, object]] = []
    wrong = wrong_billing = served = 0
    for i in range(records):
        in_canary = i >= before
        at = T0 - HOUR + HOUR * i / before if not in_canary else T0 + 2 * HOUR * (i - before) / during
        category = "billing" if rng.random() < (0.35 if in_canary else 0.2) else "shipping"
        candidate = in_canary and rng.random() < candidate_share
        text, long = _input(rng, category, i)
        if candidate:
            p_wrong = (0.8 if long else 0.1) if category == "billing" else 0.03
        else:
            p_wrong = 0.03
        is_wrong = rng.random() < p_wrong
        answer = ("shipping" if category == "billing" else "billing") if is_wrong else category
        rid = f"r{i:07d}"
        rows.append(
            RequestRecord(
                request_id=rid,
                started_at=at,
                slot="green" if candidate else "blue",
                version="v2.2" if candidate else "v2.1",
                api="openai.chat",
                stream=False,
                route_version=1,
                category=category,
                sticky_key=f"user-{rng.randrange(records // 3)}",
                status=200,
                latency_ms=100.0,
                output_chars=len(answer),
                output_head=answer,
            )
        )
        body = {"messages": [{"role": "user", "content": text}]} if len(text) < 1000 else None
        inputs.append(RequestInput(rid, text, 1, body))
        if rng.random() < labelled:
            labels.append({"request_id": rid, "at": at + 60, "label": category})
            if candidate and is_wrong:
                wrong += 1
                wrong_billing += category == "billing"
        served += candidate
    for start in range(0, records, 5_000):
        await store.write_records(rows[start : start + 5_000])
        await store.write_request_inputs(inputs[start : start + 5_000])
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            for start in range(0, len(labels), 10_000):
                conn.execute(insert(feedback), labels[start : start + 10_000])
    finally:
        engine.dispose()
    dep = Deployment(
        id=DEPLOYMENT,
        version="v2.2",
        strategy=Strategy.CANARY,
        slot="green",
        status=DeploymentStatus.ROLLED_BACK,
        created_at=T0,
        updated_at=T0 + 2 * HOUR,
        actor="ann",
        previous_slot="blue",
        detail={"canary_result": "accuracy [billing] fell 30 points"},
    )
    await store.save_deployment(dep)
    # A canary row (its state is the strategy's own JSON; the timeline below is what a postmortem reads).
    canary = CanaryRecord(DEPLOYMENT, "rolled_back", 0, T0, T0 + 2 * HOUR, {"status": "rolled_back"})
    await store.save_canary(canary, expected_revision=0)
    verdict = CanaryVerdict(
        VerdictAction.ROLLBACK,
        "billing accuracy fell",
        (MetricRow("accuracy", 0.97, 0.6, "> 5 points drop", VerdictAction.ROLLBACK, "billing", 500, 150),),
    )
    await store.add_canary_event(
        CanaryEvent(DEPLOYMENT, T0 + 2 * HOUR, "check", 0, 3000, "slipway", "check 8", verdict)
    )
    await store.add_canary_event(
        CanaryEvent(
            DEPLOYMENT, T0 + 2 * HOUR + 1, "rollback", 0, 0, "slipway", "accuracy [billing] fell", verdict
        )
    )
    if evaluated:
        cases = [_case(f"b{i}", f"refund my invoice {i}", "billing") for i in range(2)]
        cases += [_case(f"s{i}", f"where is parcel {i}", "shipping") for i in range(38)]
        suite = await store.add_suite_version(
            "core", at=T0 - 2 * HOUR, actor="ann", note="", rule={}, cases=cases
        )
        await store.add_eval_run(
            EvalRunRecord(
                "run-1", T0 - HOUR, "core", suite.version, "green", "v2.2", True, "ann", {"passed": True}
            )
        )
    return Story(dep, served, wrong, wrong_billing)


def _case(case_id: str, prompt: str, label: str) -> dict[str, object]:
    return {"id": case_id, "prompt": prompt, "category": label, "expect": {"label": label}}
