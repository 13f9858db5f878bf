"""Running evaluation suites against slots: each case to the candidate and, paired, to production.

Cases go to each slot's server the way a deploy's smoke test does (the slot's
own model name and adapter, deterministic, non-streaming), not through the
public gateway: an evaluation is not user traffic and must not enter the
request records that canary, bake and drift analysis read. Both slots answer
at once; the judgment is `analysis.evaluation` (paired, per category), and
the run is stored with the suite version it judged, so the checklist and the
postmortem can say exactly which cases a version passed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from slipway.analysis.evaluation import CaseOutcome, GateRule, judge_suite
from slipway.core.arms import UNCATEGORIZED
from slipway.core.errors import ConfigError, NotFoundError
from slipway.core.lifecycle import EvalPlan, EvalProgress, EvalRunRecord, SuiteVersion
from slipway.core.names import check_name
from slipway.core.ports import SlotBackend
from slipway.core.types import RouteTable, Slot
from slipway.evals.smoke import CaseResult, json_lines
from slipway.evals.suite import SUITE_HINT, SuiteCase, SuiteRule, parse_suite_objects, stored_cases
from slipway.rollout.smoke import run_smoke
from slipway.store.database import Store


class EvalRunner:
    def __init__(
        self,
        store: Store,
        backend: SlotBackend,
        table: Callable[[], RouteTable | None],
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._backend = backend
        self._table = table
        self._clock = clock

    async def add_suite_text(
        self, name: str, text: str, *, source: str, rule: dict[str, Any] | None, note: str, actor: str
    ) -> SuiteVersion:
        """Store a JSONL file's cases as the next version of suite `name` (errors name its lines)."""
        numbered = list(json_lines(text, source, SUITE_HINT))
        return await self.add_suite(name, numbered, source=source, rule=rule, note=note, actor=actor)

    async def add_suite(
        self,
        name: str,
        numbered: list[tuple[int, dict[str, Any]]],
        *,
        source: str,
        rule: dict[str, Any] | None,
        note: str,
        actor: str,
    ) -> SuiteVersion:
        """Store cases as the next version of suite `name`; the rule defaults to the previous version's."""
        try:
            check_name(name, "suite name")
        except ValueError as exc:
            raise ConfigError(str(exc), hint="e.g. billing or regressions") from None
        parsed = parse_suite_objects(numbered, source)
        previous = await self._store.get_suite(name)
        if rule is None:
            rule = dict(previous.rule) if previous is not None else {}
        checked = SuiteRule.from_dict(rule, source).to_dict()
        cases = [dict(raw, id=case.id) for (_line, raw), case in zip(numbered, parsed, strict=True)]
        if previous is not None and list(previous.cases) == cases and dict(previous.rule) == checked:
            return previous  # the same file again: no new version, so versions mean changes
        return await self._store.add_suite_version(
            name,
            at=self._clock(),
            actor=actor,
            note=note,
            rule=checked,
            cases=cases,
            based_on=previous.version if previous is not None else 0,
        )

    async def suites(self) -> list[SuiteVersion]:
        return await self._store.latest_suites()

    async def suite(self, name: str, version: int | None = None) -> SuiteVersion:
        found = await self._store.get_suite(name, version)
        if found is None:
            which = f"version {version} of suite {name!r}" if version is not None else f"suite {name!r}"
            raise NotFoundError(f"no {which}", hint="slipway eval list shows the suites and their versions")
        return found

    async def runs(self, *, suite: str | None = None, limit: int = 20) -> list[EvalRunRecord]:
        return await self._store.list_eval_runs(suite=suite, limit=limit)

    async def get_run(self, run_id: str) -> EvalRunRecord:
        found = await self._store.get_eval_run(run_id)
        if found is None:
            raise NotFoundError(f"no evaluation run {run_id!r}", hint="slipway eval runs lists them")
        return found

    async def plan(
        self,
        suite: str | None,
        *,
        slot: str,
        against: str | None,
        actor: str,
        deployment_id: str | None = None,
    ) -> EvalPlan:
        """What `execute` will run: `suite`'s latest version, or every suite's (None); refused here
        with the reason (no such suite or slot) before any case is sent."""
        self._slots(slot, against)
        if suite is None:
            versions = tuple(await self._store.latest_suites())
        else:
            version = await self._store.get_suite(suite)
            if version is None:
                raise NotFoundError(
                    f"no evaluation suite named {suite!r}",
                    hint="add one with: slipway eval add NAME cases.jsonl (slipway eval list shows them)",
                )
            versions = (version,)
        return EvalPlan(versions, slot, against, actor, deployment_id)

    async def execute(
        self, plan: EvalPlan, progress: Callable[[EvalProgress], None] | None = None
    ) -> list[EvalRunRecord]:
        """Run the plan's suites one after the other, each stored as it ends; `progress` hears of
        every answer."""
        return [
            await self._run(version, plan, index=i, progress=progress)
            for i, version in enumerate(plan.versions, start=1)
        ]

    async def run(
        self,
        suite: str,
        *,
        slot: str,
        against: str | None,
        actor: str,
        deployment_id: str | None = None,
    ) -> EvalRunRecord:
        """Run `suite`'s latest version on `slot` (paired against `against`); stored and returned."""
        plan = await self.plan(suite, slot=slot, against=against, actor=actor, deployment_id=deployment_id)
        (record,) = await self.execute(plan)
        return record

    async def run_all(
        self, *, slot: str, against: str | None, actor: str, deployment_id: str | None = None
    ) -> list[EvalRunRecord]:
        """Every stored suite's latest version, one after the other (empty when there is none)."""
        plan = await self.plan(None, slot=slot, against=against, actor=actor, deployment_id=deployment_id)
        return await self.execute(plan)

    async def _run(
        self,
        version: SuiteVersion,
        plan: EvalPlan,
        *,
        index: int,
        progress: Callable[[EvalProgress], None] | None,
    ) -> EvalRunRecord:
        candidate, baseline = self._slots(plan.slot, plan.against)
        actor, deployment_id = plan.actor, plan.deployment_id
        source = f"suite {version.name} version {version.version}"
        cases = stored_cases(version.cases, source)
        rule = SuiteRule.from_dict(version.rule, source)
        smoke = [c.case for c in cases]
        total = len(smoke) * (1 if baseline is None else 2)
        answered = 0

        def one_more() -> None:
            nonlocal answered
            answered += 1
            if progress is not None:
                progress(EvalProgress(version.name, index, len(plan.versions), answered, total))

        if baseline is None:
            report = await run_smoke(self._backend, candidate, smoke, answered=one_more)
            outcomes = [_outcome(case, mine, None) for case, mine in zip(cases, report.results, strict=True)]
        else:
            mine_report, theirs_report = await asyncio.gather(
                run_smoke(self._backend, candidate, smoke, answered=one_more),
                run_smoke(self._backend, baseline, smoke, answered=one_more),
            )
            outcomes = [
                _outcome(case, mine, theirs)
                for case, mine, theirs in zip(cases, mine_report.results, theirs_report.results, strict=True)
            ]
        gate = GateRule(rule.max_drop_points, rule.alpha, rule.min_accuracy)
        result = judge_suite(outcomes, gate, suite=version.name)
        result["suite_version"] = version.version
        record = EvalRunRecord(
            id=f"eval-{uuid.uuid4().hex[:12]}",
            at=self._clock(),
            suite=version.name,
            suite_version=version.version,
            slot=candidate.name,
            slot_version=candidate.version_label,
            passed=bool(result["passed"]),
            actor=actor,
            result=result,
            against=baseline.name if baseline else None,
            against_version=baseline.version_label if baseline else None,
            deployment_id=deployment_id,
        )
        await self._store.add_eval_run(record)
        return record

    def _slots(self, slot: str, against: str | None) -> tuple[Slot, Slot | None]:
        table = self._table()
        if table is None:
            raise ConfigError(
                "no routes yet: there is no slot to evaluate", hint="start slipway with a config"
            )
        known = ", ".join(sorted(table.slots))
        for name in (slot, against):
            if name is not None and name not in table.slots:
                raise NotFoundError(f"no slot named {name!r}", hint=f"the slots are: {known}")
        if against == slot:
            raise ConfigError(
                f"cannot pair {slot!r} against itself",
                hint="--against names production (the active slot), --slot the candidate",
            )
        return table.slot(slot), table.slot(against) if against is not None else None


def _outcome(case: SuiteCase, mine: CaseResult, theirs: CaseResult | None) -> CaseOutcome:
    return CaseOutcome(
        id=case.id,
        category=case.category or UNCATEGORIZED,
        must_pass=case.must_pass,
        candidate_passed=mine.passed,
        candidate_answer=mine.output_head,
        failures=mine.failures,
        baseline_passed=theirs.passed if theirs is not None else None,
        origin=case.origin,
    )
