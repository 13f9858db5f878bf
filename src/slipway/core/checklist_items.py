"""Each checklist item judged from its evidence: pass, fail with the fix, or n/a with why.

The app layer gathers the evidence (suite runs, a paired latency replay, the
model file's validation, a probe of the previous version, drills, delivery
records, the plan and the traffic); the rules that turn it into an outcome
live here, so they are tested with tables of cases and read in one place.
Pure: no I/O, no clock (the caller passes `now`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slipway.core.canary_schedule import format_duration
from slipway.core.checklist import ItemResult, ItemStatus
from slipway.core.deliveries import Delivery, Outcome
from slipway.core.lifecycle import DrillRecord, EvalRunRecord

#: The event of the notification `slipway checklist --announce` sends.
ANNOUNCE_EVENT = "deploy.announced"
#: The event `slipway notify test` records.
TEST_EVENT = "notify.test"

_ADD_SUITE = "add a suite of cases with the right answers: slipway eval add NAME cases.jsonl"


def announce_title(version: str) -> str:
    """The announcement's title; `announced` finds it again by this prefix."""
    return f"deployment of {version} announced"


def _ago(age_s: float) -> str:
    return "just now" if age_s < 60 else f"{format_duration(age_s)} ago"


# -- 1 and 2: evaluation suites -------------------------------------------------------------


def judge_evaluation(runs: Sequence[EvalRunRecord] | None, unavailable: str | None = None) -> ItemResult:
    """Every stored suite's latest version passed its gate, run paired against production now."""
    if runs is None:
        return ItemResult(
            "evaluation",
            ItemStatus.FAIL,
            f"the suites could not be run: {unavailable or 'unknown'}",
            fix="run the suites once by hand to see why: slipway eval run SUITE --slot SLOT",
        )
    if not runs:
        return ItemResult("evaluation", ItemStatus.FAIL, "no evaluation suite is stored", fix=_ADD_SUITE)
    failed = [r for r in runs if not r.passed]
    names = ", ".join(f"{r.suite} v{r.suite_version}" for r in runs)
    if failed:
        why = "; ".join(f"{r.suite}: {str(r.result.get('text') or 'failed its gate')[:200]}" for r in failed)
        return ItemResult(
            "evaluation",
            ItemStatus.FAIL,
            f"{len(failed)} of {len(runs)} suites failed their gate ({why})",
            fix="fix the candidate (the suite's report lists the failing cases), or the suite if it is wrong",
            age_s=0.0,
        )
    against = runs[0].against or "no other slot"
    return ItemResult(
        "evaluation",
        ItemStatus.PASS,
        f"{len(runs)} suites passed their gates against {against}: {names}",
        age_s=0.0,
    )


def judge_regression(runs: Sequence[EvalRunRecord] | None) -> ItemResult:
    """No hard (must-pass) case failed in the suite runs of item 1."""
    if runs is None:
        return ItemResult(
            "regression",
            ItemStatus.FAIL,
            "the suites could not be run (see evaluation)",
            fix="run the suites once by hand to see why: slipway eval run SUITE --slot SLOT",
        )
    if not runs:
        # Nothing to hold to 100 % yet (whether suites exist is the evaluation item's question): so
        # requiring this item by default refuses no deploy until a rollback has taught a case.
        return ItemResult(
            "regression",
            ItemStatus.NA,
            "no evaluation suite is stored, so no regression case yet: a rollback's failing answers "
            "become them (slipway regressions add --from DEPLOYMENT)",
        )
    failing = {r.suite: _int(r.result.get("must_pass_failed")) for r in runs}
    total = sum(failing.values())
    if total:
        where = ", ".join(f"{suite}: {n}" for suite, n in failing.items() if n)
        return ItemResult(
            "regression",
            ItemStatus.FAIL,
            f"{total} must-pass cases failed ({where})",
            fix="a must-pass case is a regression seen before: fix the candidate before it ships",
            age_s=0.0,
        )
    hard = sum(_int(r.result.get("must_pass")) for r in runs)
    if not hard and all("must_pass" in r.result for r in runs):
        return ItemResult(
            "regression",
            ItemStatus.NA,
            f"the {len(runs)} suites have no must-pass cases yet; a rollback's failing cases become them "
            "(mark a case must_pass: true)",
        )
    counted = f"all {hard} must-pass cases" if hard else "every must-pass case"
    return ItemResult("regression", ItemStatus.PASS, f"{counted} passed in {len(runs)} suites", age_s=0.0)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# -- 3: latency ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatencyReplay:
    """A paired replay: the same requests sent to both slots directly, each one's time in ms."""

    candidate_ms: Sequence[float]
    production_ms: Sequence[float]
    #: Where the requests came from ("24 recent requests to blue", "12 smoke cases").
    source: str
    #: Requests that got no answer from either side (counted, not timed).
    failed: int = 0
    problem: str | None = None


#: Fewest answered pairs a ratio is reported on.
MIN_PAIRS = 4


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th quantile (0..1) by the nearest-rank rule: an actual observed time, never interpolated."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def judge_latency(
    replay: LatencyReplay | None, *, p50_max: float, p95_max: float, slack_ms: float = 0.0
) -> ItemResult:
    """p50 and p95 of the candidate over production's, on the same requests, within their bounds.

    A quantile slower by no more than `slack_ms` passes whatever its ratio: on a server that
    answers in 2 ms, a scheduler hiccup of 7 ms is a ratio of 4, and says nothing about the model.
    """
    fix_source = "serve some traffic first, or pass smoke cases (--smoke FILE) to replay"
    if replay is None:
        return ItemResult("latency", ItemStatus.FAIL, "nothing to replay", fix=fix_source)
    pairs = min(len(replay.candidate_ms), len(replay.production_ms))
    if pairs < MIN_PAIRS:
        problem = f": {replay.problem}" if replay.problem else ""
        return ItemResult(
            "latency",
            ItemStatus.FAIL,
            f"only {pairs} of the replayed requests were answered by both slots ({replay.source}){problem}",
            fix=f"check both backends answer (slipway status); {fix_source}",
            age_s=0.0,
        )
    cand50, prod50 = percentile(replay.candidate_ms, 0.5), percentile(replay.production_ms, 0.5)
    cand95, prod95 = percentile(replay.candidate_ms, 0.95), percentile(replay.production_ms, 0.95)
    r50, r95 = cand50 / max(prod50, 0.001), cand95 / max(prod95, 0.001)
    words = (
        f"{pairs} paired requests ({replay.source}): p50 {cand50:.0f} ms vs {prod50:.0f} ms ({r50:.2f}x), "
        f"p95 {cand95:.0f} ms vs {prod95:.0f} ms ({r95:.2f}x)"
    )
    over = [f"p50 {r50:.2f}x > {p50_max:g}x"] if r50 > p50_max and cand50 - prod50 > slack_ms else []
    over += [f"p95 {r95:.2f}x > {p95_max:g}x"] if r95 > p95_max and cand95 - prod95 > slack_ms else []
    if over:
        return ItemResult(
            "latency",
            ItemStatus.FAIL,
            f"{words}; over the bound: {', '.join(over)}",
            fix="find why the candidate is slower (longer outputs, another quantisation, a busier server), "
            "or widen checklist.latency_p50_max / latency_p95_max if this is expected",
            age_s=0.0,
        )
    return ItemResult("latency", ItemStatus.PASS, words, age_s=0.0)


# -- 4: the model file -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelFileCheck:
    """What the registry's validation said about the candidate's files, or why there is no file here."""

    #: None: the model is served by a server slipway does not run (no file to look at).
    valid: bool | None
    words: str


def judge_model_file(check: ModelFileCheck) -> ItemResult:
    if check.valid is None:
        return ItemResult("model_file", ItemStatus.NA, check.words)
    if check.valid:
        return ItemResult("model_file", ItemStatus.PASS, check.words, age_s=0.0)
    return ItemResult(
        "model_file",
        ItemStatus.FAIL,
        check.words,
        fix="fix or re-convert the file; `slipway adapters validate FILE --base BASE` shows every check",
        age_s=0.0,
    )


# -- 5: the previous version ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """A real request sent to the slot a rollback would go back to."""

    slot: str | None
    version: str | None
    answered: bool
    detail: str


def judge_previous_version(probe: Probe) -> ItemResult:
    if probe.slot is None:
        return ItemResult(
            "previous_version",
            ItemStatus.FAIL,
            "there is no other slot to roll back to",
            fix="keep the version in production loaded in its slot and deploy into a standby slot",
        )
    if probe.answered:
        return ItemResult(
            "previous_version",
            ItemStatus.PASS,
            f"{probe.version} in slot {probe.slot} answered a probe ({probe.detail})",
            age_s=0.0,
        )
    return ItemResult(
        "previous_version",
        ItemStatus.FAIL,
        f"{probe.version} in slot {probe.slot} did not answer a probe: {probe.detail}",
        fix=f"bring {probe.slot}'s backend back (slipway load {probe.slot} if it was unloaded); "
        "a rollback would go there",
        age_s=0.0,
    )


# -- 6: the drill ---------------------------------------------------------------------------


def judge_drill(drills: Sequence[DrillRecord], *, now: float, max_age_s: float) -> ItemResult:
    """The newest passing drill is at most `max_age_s` old (a failed one since is said too)."""
    fix = "rehearse a rollback: slipway drill"
    good = next((d for d in drills if d.passed), None)
    newest = drills[0] if drills else None
    failed_since = ""
    if newest is not None and not newest.passed:
        why = str(newest.result.get("reason") or "no reason recorded")[:200]
        failed_since = f"; a later drill failed {_ago(now - newest.at)} ({why})"

    if good is None:
        words = "no rollback drill has passed" + (failed_since if newest is not None else " (none run)")
        return ItemResult("drill", ItemStatus.FAIL, words, fix=fix, age_s=now - newest.at if newest else None)
    age = now - good.at
    switch = good.result.get("switch_ms")
    measured = f", switch {switch:.0f} ms" if isinstance(switch, int | float) else ""
    words = f"drill on slot {good.slot} passed {_ago(age)}{measured}{failed_since}"
    if age > max_age_s:
        return ItemResult(
            "drill", ItemStatus.FAIL, f"{words}: older than {format_duration(max_age_s)}", fix=fix, age_s=age
        )
    if failed_since:
        return ItemResult(
            "drill", ItemStatus.FAIL, words, fix=f"find why the last drill failed; {fix}", age_s=age
        )
    return ItemResult("drill", ItemStatus.PASS, words, age_s=age)


# -- 7: monitoring and alerting ---------------------------------------------------------------


def judge_monitoring(
    sinks: Sequence[str],
    deliveries: Sequence[Delivery],
    *,
    windows: str | None,
    now: float,
    max_age_s: float,
) -> ItemResult:
    """A sink configured, a test event delivered within `max_age_s`, and monitoring windows set.

    `windows` is the post-switch monitoring in words, or None when it is off.
    """
    if not sinks:
        return ItemResult(
            "monitoring",
            ItemStatus.FAIL,
            "no notification sink is configured: a rollback would tell no one",
            fix="add notify.webhooks (or notify.email) to the config, then run slipway notify test",
        )
    tests = [d for d in deliveries if d.event == TEST_EVENT and d.outcome is Outcome.DELIVERED]
    newest = max(tests, key=lambda d: d.at, default=None)
    if newest is None or now - newest.at > max_age_s:
        seen = f" (the last {_ago(now - newest.at)})" if newest is not None else ""
        return ItemResult(
            "monitoring",
            ItemStatus.FAIL,
            f"{len(sinks)} sinks configured, but no test event delivered within "
            f"{format_duration(max_age_s)}{seen}",
            fix="slipway notify test (and check it arrived)",
            age_s=None if newest is None else now - newest.at,
        )
    age = now - newest.at
    if windows is None:
        return ItemResult(
            "monitoring",
            ItemStatus.FAIL,
            "no monitoring windows after the switch (bake.after_switch is off)",
            fix="set bake.after_switch: true (and canary.monitor: true)",
            age_s=age,
        )
    return ItemResult(
        "monitoring",
        ItemStatus.PASS,
        f"{len(sinks)} sinks; test event delivered to {newest.sink} {_ago(age)}; watched {windows}",
        age_s=age,
    )


# -- 8: the canary plan --------------------------------------------------------------------------


def judge_canary_plan(strategy: str, plan: str | None, starved: str | None) -> ItemResult:
    """A canary's steps are defined and the first phase can reach a verdict at the recent traffic."""
    if strategy != "canary":
        return ItemResult(
            "canary_plan",
            ItemStatus.NA,
            f"a {strategy} deploy has no canary phases" + (f" ({plan})" if plan else ""),
        )
    if not plan:
        return ItemResult(
            "canary_plan", ItemStatus.FAIL, "no canary steps defined", fix="set canary.steps or pass --steps"
        )
    if starved:
        fix = starved.split("Steps that fit this traffic: ", 1)[-1] if "Steps that fit" in starved else None
        return ItemResult(
            "canary_plan",
            ItemStatus.FAIL,
            f"steps {plan}: {starved}",
            fix=f"use {fix}" if fix else "lengthen the first phase (slipway plan)",
            age_s=0.0,
        )
    return ItemResult("canary_plan", ItemStatus.PASS, f"steps {plan} fit the recent traffic", age_s=0.0)


# -- 9: an owner -------------------------------------------------------------------------------------


def judge_owner(owner: str | None, automated: str | None) -> ItemResult:
    """Someone named for the deployment, or a rollback that happens without one."""
    if owner:
        extra = f"; also {automated}" if automated else ""
        return ItemResult("owner", ItemStatus.PASS, f"owner {owner}{extra}")
    if automated:
        return ItemResult("owner", ItemStatus.PASS, f"no owner named, but {automated}")
    return ItemResult(
        "owner",
        ItemStatus.FAIL,
        "no owner named and no automated rollback",
        fix="name one: --owner NAME (or checklist.owner in the config), or turn on bake.after_switch",
    )


# -- 10: stakeholders told -----------------------------------------------------------------------------


def judge_announced(version: str, deliveries: Sequence[Delivery], *, now: float) -> ItemResult:
    """A `deploy.announced` notification for this version reached at least one sink."""
    title = announce_title(version)
    mine = [d for d in deliveries if d.event == ANNOUNCE_EVENT and d.title.startswith(title)]
    delivered = max((d for d in mine if d.outcome is Outcome.DELIVERED), key=lambda d: d.at, default=None)
    fix = f"slipway checklist {version} --announce (tells every sink of the deployment window)"
    if delivered is not None:
        age = now - delivered.at
        return ItemResult(
            "announced", ItemStatus.PASS, f"announcement delivered to {delivered.sink} {_ago(age)}", age_s=age
        )
    if mine:
        why = mine[0].error or "no reason recorded"
        return ItemResult(
            "announced", ItemStatus.FAIL, f"the announcement was not delivered: {why[:200]}", fix=fix
        )
    return ItemResult("announced", ItemStatus.FAIL, f"no announcement of {version} was delivered", fix=fix)
