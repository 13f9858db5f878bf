"""Post-rollback analysis and regression cases, wired: read a rollout's records, judge them, write suites.

Part of the composition root. The analysis runs in a worker thread, off the
event loop the gateway serves on. The reads are bounded so a postmortem over a
100,000-record canary stays within seconds on SQLite and PostgreSQL: counts
come from SQL aggregation, the labelled answers are the only rows read in
full, and inputs are read for even samples of the wrong answers
(`WRONG_SAMPLE`), the right ones (`RIGHT_SAMPLE`) and all the candidate
served (`MIX_SAMPLE`). Everything
else is `analysis.postmortem` (the findings) and `evals.regressions` (the
cases), both pure.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slipway.analysis.postmortem import (
    Evaluation,
    Facts,
    Postmortem,
    Reference,
    Rollout,
    TimelineEntry,
    build_postmortem,
)
from slipway.analysis.postmortem.mix import Text
from slipway.analysis.postmortem.scoring import score
from slipway.core.arms import UNCATEGORIZED
from slipway.core.canary import CanaryEvent
from slipway.core.deployments import Deployment, DeploymentStatus
from slipway.core.errors import ConfigError, NotFoundError, SuiteChanged
from slipway.core.lifecycle import SuiteVersion
from slipway.core.postmortem import parse_retry_at
from slipway.evals.regressions import (
    Batch,
    FailingAnswer,
    build,
    case_input_text,
    compile_redactions,
    to_jsonl,
)
from slipway.evals.suite import SuiteRule
from slipway.store.database import Store
from slipway.web.reports.postmortem_html import render_postmortem_html

#: Wrong and right answers whose inputs are read (an even sample of each), to tell the failing
#: inputs from the passing ones: enough for the tests, and the input dimensions scan each text.
WRONG_SAMPLE = 1_500
RIGHT_SAMPLE = 1_000
#: Requests whose inputs are read for each side of the input-mix comparison.
MIX_SAMPLE = 500
#: Production's traffic before the rollout is read over at least this long a stretch.
MIN_REFERENCE_SPAN_S = 3_600.0
#: Route changes this long after the run's last request still belong to its timeline.
TIMELINE_SLACK_S = 600.0
REPORT_FORMATS = ("json", "html")
DEFAULT_SUITE = "regressions"
#: Saves of a regression suite refused because another writer added a version first, before giving up.
SUITE_WRITE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Run:
    """The deployment examined and the window its version served in."""

    deployment: Deployment
    since: float
    until: float | None


class PostmortemService:
    def __init__(
        self,
        store: Store,
        *,
        wall: Callable[[], float] = time.time,
        before_read: Callable[[], Awaitable[None]] | None = None,
        reference_from: Callable[[], str] = lambda: "auto",
    ) -> None:
        self._store = store
        self._wall = wall
        #: `drift.reference_from`: the mix is quoted against what drift compares with ("traffic": production).
        self._reference_from = reference_from
        #: Writes out the records the gateway still holds, so a postmortem sees every request.
        self._before_read = before_read

    # -- the postmortem ------------------------------------------------------------

    async def report(self, deployment_id: str | None, fmt: str = "json") -> tuple[str, str]:
        """(body, media type) of the postmortem of one deployment (default: the latest rolled back)."""
        if fmt not in REPORT_FORMATS:
            raise ConfigError(
                f"unknown report format {fmt!r}", hint=f"use one of: {', '.join(REPORT_FORMATS)}"
            )
        pm = await self.postmortem(deployment_id)
        if fmt == "html":
            return render_postmortem_html(pm.to_dict()), "text/html; charset=utf-8"
        return json.dumps(pm.to_dict()), "application/json"

    async def postmortem(self, deployment_id: str | None) -> Postmortem:
        run = await self._run(deployment_id)
        facts = await self._facts(run)
        # About a second of CPU on a large run: off the event loop the gateway serves requests on.
        return await asyncio.to_thread(build_postmortem, facts)

    async def headline(self, deployment_id: str) -> str:
        """The postmortem's headline and the command that opens it, for a rollback's notification."""
        pm = await self.postmortem(deployment_id)
        return f"Postmortem: {pm.headline}. Open it with: {pm.open_command}"

    async def _run(self, deployment_id: str | None) -> Run:
        if self._before_read is not None:
            await self._before_read()
        deployments = await self._store.list_deployments(limit=1000)
        if deployment_id is None:
            found = next((d for d in deployments if d.status is DeploymentStatus.ROLLED_BACK), None)
            if found is None:
                raise NotFoundError(
                    "no rolled-back deployment to examine",
                    hint="name one: slipway postmortem DEPLOYMENT (`slipway deployments` lists them)",
                )
        else:
            found = await self._store.get_deployment(deployment_id)
            if found is None:
                raise NotFoundError(
                    f"no deployment {deployment_id!r}", hint="`slipway deployments` lists them"
                )
        later = [
            d.created_at for d in deployments if d.slot == found.slot and d.created_at > found.created_at
        ]
        return Run(found, found.created_at, min(later) if later else None)

    async def _facts(self, run: Run) -> Facts:
        dep, store = run.deployment, self._store
        served = await store.served_by(dep.slot, dep.version, since=run.since, until=run.until)
        first = served.first_at if served.first_at is not None else run.since
        last = served.last_at if served.last_at is not None else first
        everyone = await store.category_counts(None, since=first, until=last + 1e-6)
        answers = await store.labelled_answers(dep.slot, dep.version, since=run.since, until=run.until)
        scored = score(answers)
        wrong = _even([s.answer.request_id for s in scored if not s.correct], WRONG_SAMPLE)
        right = _even([s.answer.request_id for s in scored if s.correct], RIGHT_SAMPLE)
        live_ids = await store.latest_request_ids(dep.slot, since=first, until=last + 1e-6, limit=MIX_SAMPLE)
        inputs = await store.request_inputs([*wrong, *right])
        live = await store.request_inputs(live_ids)
        events = await store.canary_events(dep.id, limit=1000)
        # When the run ended, in the clock evaluation runs and the canary's timeline are stamped with
        # (the control clock); a deployment without a timeline has only its own wall-clock end.
        ended = max((e.at for e in events), default=dep.updated_at)
        evaluation, reference = await self._evaluated_on(dep, ended)
        if reference is None or self._reference_from() == "traffic":
            reference = await self._production_before(dep, first, last)
        reason = str(dep.detail.get("canary_result") or dep.detail.get("rollback_reason") or "")
        retry = dep.detail.get("retry_at")
        rollout = Rollout(
            deployment_id=dep.id,
            version=dep.version,
            slot=dep.slot,
            strategy=str(dep.strategy),
            status=str(dep.status),
            actor=dep.actor,
            started_at=dep.created_at,
            ended_at=dep.updated_at,
            reason=reason,
            baseline=dep.previous_slot,
            retry_at=float(retry) if isinstance(retry, int | float) else None,
        )
        return Facts(
            rollout=rollout,
            served=served,
            everyone=everyone,
            answers=answers,
            scored=scored,
            inputs=inputs,
            timeline=await self._timeline(dep, events, last),
            evaluation=evaluation,
            reference=reference,
            live_inputs=list(live.values()),
        )

    async def _evaluated_on(
        self, dep: Deployment, ended: float
    ) -> tuple[Evaluation | None, Reference | None]:
        """The version's latest evaluation run before its run ended, and its suite's cases as the reference
        mix (a run of the regression cases added afterwards is not what it was evaluated on)."""
        runs = [r for r in await self._store.list_eval_runs(slot_version=dep.version) if r.at < ended]
        if not runs:
            return None, None
        run = runs[0]
        suite = await self._store.get_suite(run.suite, run.suite_version)
        cases: Sequence[Mapping[str, Any]] = suite.cases if suite is not None else ()
        per_category: dict[str, int] = {}
        for case in cases:
            name = str(case.get("category") or UNCATEGORIZED)
            per_category[name] = per_category.get(name, 0) + 1
        evaluation = Evaluation(run.suite, run.suite_version, run.passed, run.at, per_category)
        texts = [Text(case_input_text(c), _turns(c)) for c in cases]
        return evaluation, Reference(f"since {dep.version}'s evaluation", per_category, texts)

    async def _production_before(self, dep: Deployment, first: float, last: float) -> Reference | None:
        """Production's traffic just before the rollout, over as long as the candidate ran (≥ an hour)."""
        slot = dep.previous_slot
        if slot is None or slot == dep.slot:
            return None
        span = max(last - first, MIN_REFERENCE_SPAN_S)
        since, until = dep.created_at - span, dep.created_at
        counts = await self._store.category_counts(slot, since=since, until=until)
        if not counts:
            return None
        ids = await self._store.latest_request_ids(slot, since=since, until=until, limit=MIX_SAMPLE)
        inputs = await self._store.request_inputs(ids)
        return Reference("compared with production before the rollout", counts, list(inputs.values()))

    async def _timeline(self, dep: Deployment, events: list[CanaryEvent], last: float) -> list[TimelineEntry]:
        out = [
            TimelineEntry(
                dep.created_at, "deploy", dep.actor, f"{dep.version} deployed to {dep.slot} ({dep.strategy})"
            )
        ]
        out.extend(_event_entry(e) for e in events)
        end = max(last, dep.updated_at) + TIMELINE_SLACK_S
        for change in await self._store.route_history(limit=1000):
            if dep.created_at <= change.at <= end:
                out.append(TimelineEntry(change.at, f"route {change.kind}", change.actor, change.reason))
        return out

    async def set_retry(self, deployment_id: str, at: str, *, actor: str) -> dict[str, Any]:
        """Record when the next attempt is planned; the postmortem says it from then on.

        Written on the deployment's detail, without moving its status or its
        `updated_at` (which is when it ended, as the postmortem reads it).
        """
        dep = (await self._run(deployment_id)).deployment
        when = parse_retry_at(at, self._wall())
        dep.detail = {**dep.detail, "retry_at": when, "retry_by": actor}
        await self._store.save_deployment(dep)
        return {"deployment_id": dep.id, "retry_at": when, "actor": actor}

    # -- regression cases ----------------------------------------------------------

    async def failing(self, deployment_id: str) -> list[FailingAnswer]:
        """The wrong, labelled answers of a deployment's version, with their stored inputs."""
        run = await self._run(deployment_id)
        dep = run.deployment
        answers = await self._store.labelled_answers(dep.slot, dep.version, since=run.since, until=run.until)
        wrong = [s for s in score(answers) if not s.correct]
        inputs = await self._store.request_inputs([s.answer.request_id for s in wrong])
        return [
            FailingAnswer(
                deployment_id=dep.id,
                request_id=s.answer.request_id,
                version=dep.version,
                category=s.answer.category,
                answered=s.answer.answer,
                label=s.answer.label,
                input=inputs.get(s.answer.request_id),
            )
            for s in wrong
        ]

    async def add_regressions(
        self, deployment_id: str, *, suite: str = DEFAULT_SUITE, redact: Sequence[str] = (), actor: str
    ) -> dict[str, Any]:
        """Append the deployment's failing answers to `suite` as a new version (nothing new: no version).

        The new version is the latest one plus these cases. If another writer
        (a second `regressions add`, an `eval add`) saves a version in between,
        the store refuses this one (`SuiteChanged`) and it is built again on
        top of theirs, so neither loses cases and none is added twice.
        """
        patterns = compile_redactions(redact)
        failing = await self.failing(deployment_id)
        attempt = 0
        while True:
            attempt += 1
            current = await self._store.get_suite(suite)
            existing = [dict(c) for c in current.cases] if current is not None else []
            batch = await asyncio.to_thread(build, failing, existing=existing, redactions=patterns)
            if not batch.cases:
                return _batch_to_dict(batch, suite, None, current)
            try:
                saved = await self._store.add_suite_version(
                    suite,
                    at=self._wall(),
                    actor=actor,
                    note=f"regressions from deployment {deployment_id}: {batch.summary()}",
                    rule=SuiteRule.from_dict(dict(current.rule) if current else {}, suite).to_dict(),
                    cases=[*existing, *(dict(c) for c in batch.cases)],
                    based_on=current.version if current is not None else 0,
                )
            except SuiteChanged:
                if attempt == SUITE_WRITE_ATTEMPTS:
                    raise
                continue
            return _batch_to_dict(batch, suite, saved, current)

    async def export_regressions(self, deployment_id: str, *, fmt: str, redact: Sequence[str] = ()) -> str:
        """Training data: the failing inputs with their right labels, one JSON object per line."""
        if fmt != "jsonl":
            raise ConfigError(f"unknown export format {fmt!r}", hint="use jsonl")
        patterns = compile_redactions(redact)
        failing = await self.failing(deployment_id)
        batch = await asyncio.to_thread(build, failing, redactions=patterns)
        return to_jsonl(batch.training)


def _even(ids: list[str], n: int) -> list[str]:
    """At most `n` ids spread evenly over the list (over the run's whole time, not its start)."""
    if len(ids) <= n:
        return ids
    return [ids[i * len(ids) // n] for i in range(n)]


def _turns(case: Mapping[str, Any]) -> int:
    messages = case.get("messages")
    if isinstance(messages, list):
        return max(1, sum(1 for m in messages if isinstance(m, Mapping) and m.get("role") == "user"))
    return 1


def _event_entry(event: CanaryEvent) -> TimelineEntry:
    text = event.reason
    if event.verdict is not None:
        worst = [
            f"{m.metric}{f' [{m.category}]' if m.category else ''}: {m.action}"
            for m in event.verdict.metrics
            if m.action.severity >= 2
        ]
        text = f"{text} — verdict {event.verdict.action}" + (f" ({'; '.join(worst)})" if worst else "")
    return TimelineEntry(
        event.at, f"canary {event.kind}", event.actor, f"{text} at {event.weight_bp / 100:g}%"
    )


def _batch_to_dict(
    batch: Batch, suite: str, saved: SuiteVersion | None, current: SuiteVersion | None
) -> dict[str, Any]:
    return {
        "suite": suite,
        "version": saved.version if saved is not None else (current.version if current else None),
        "added": len(batch.cases),
        "skipped": dict(batch.skipped),
        "summary": batch.summary(),
        "cases": list(batch.cases),
    }
