"""A version's drift reference from its evaluation data: the cases of the suite it was last judged on.

A version's first requests are whatever traffic happened to come; the suite
it was evaluated on is what it was actually tested for, so "billing rose
from 20% to 35% since v2.2's evaluation" names the gap that matters. The
cases are read as the gateway reads a request (`gateway.inputs.input_of` on
the request the evaluation sent), so a case and a live request of the same
text land in the same length, script and turns bins.

A reference is made once per evaluation run and kept in the store: a check
reads only the version's run list, and the suite's cases (up to 10,000)
again only when the version was evaluated again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slipway.analysis.input_profile import profile
from slipway.core.arms import UNCATEGORIZED
from slipway.core.errors import ConfigError
from slipway.core.lifecycle import EvalRunRecord, RequestInput, SuiteVersion
from slipway.core.records import Api, InputWindow
from slipway.evals.suite import stored_cases
from slipway.gateway.inputs import input_of

log = logging.getLogger("slipway.drift")

#: Runs read per version to find the latest one whose suite is still stored.
RUNS_READ = 20
#: Store meta key prefix of a version's evaluation reference (+ "slot:version").
EVALUATION_META_PREFIX = "drift.reference_evaluation:"


class EvaluationReader(Protocol):
    """What the reference reads of the store: a version's evaluation runs and their suites."""

    async def list_eval_runs(
        self, *, slot_version: str | None = None, limit: int = 50
    ) -> list[EvalRunRecord]: ...

    async def get_suite(self, name: str, version: int | None = None) -> SuiteVersion | None: ...

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Evaluated:
    """The latest evaluation run of a version, and the suite version it ran."""

    run: EvalRunRecord
    suite: SuiteVersion

    @property
    def cases(self) -> int:
        return len(self.suite.cases)

    def words(self) -> str:
        return f"suite {self.suite.name} v{self.suite.version} ({self.cases:,} cases)"


async def latest_evaluation(store: EvaluationReader, version: str) -> Evaluated | None:
    """The version's latest run whose suite version is still stored (None: never evaluated)."""
    for run in await store.list_eval_runs(slot_version=version, limit=RUNS_READ):
        suite = await store.get_suite(run.suite, run.suite_version)
        if suite is not None:
            return Evaluated(run, suite)
    return None


def evaluation_window(cases: Sequence[Mapping[str, Any]], source: str) -> InputWindow:
    """A suite's cases as a window of requests: each case's category, and its input as the gateway
    would keep it. Raises ConfigError when a stored case is no longer a valid one."""
    categories: Counter[str] = Counter()
    inputs: list[RequestInput] = []
    for case in stored_cases(cases, source):
        categories[case.category or UNCATEGORIZED] += 1
        request = case.case.to_openai_request("reference")
        api = Api.OPENAI_CHAT if "messages" in request else Api.OPENAI_COMPLETIONS
        text, turns = input_of(api, request)
        inputs.append(RequestInput(case.id, text, turns))
    return InputWindow(dict(categories), inputs, len(inputs), None, None)


@dataclass(frozen=True, slots=True)
class EvaluationMix:
    """A version's evaluation reference: its profile, the run and suite it came from."""

    counts: Mapping[str, Mapping[str, int]]
    cases: int
    run_id: str
    #: "suite support v3 (240 cases)".
    suite: str
    #: The cases' input texts, read again when the reference's out-of-vocabulary rates are measured.
    texts: Callable[[], Awaitable[list[str]]]


async def evaluation_reference(store: EvaluationReader, slot: str, version: str) -> EvaluationMix | str:
    """The profile of the cases of the suite `version` was last evaluated on; else why not, in words."""
    runs = await store.list_eval_runs(slot_version=version, limit=RUNS_READ)
    if not runs:
        return f"{version} has no evaluation run (slipway eval run SUITE --slot {slot})"
    key = f"{EVALUATION_META_PREFIX}{slot}:{version}"
    raw = await store.get_meta(key)
    kept = json.loads(raw) if raw else {}
    if kept.get("run") == runs[0].id:
        return EvaluationMix(
            kept["counts"], int(kept["cases"]), runs[0].id, str(kept["suite"]), _texts(store, runs[0])
        )
    evaluated = await latest_evaluation(store, version)
    if evaluated is None:
        return f"the suites {version} was evaluated on are no longer stored"
    source = f"suite {evaluated.suite.name} v{evaluated.suite.version}"
    try:
        window = await asyncio.to_thread(evaluation_window, evaluated.suite.cases, source)
    except ConfigError as exc:
        log.warning("drift: %s cannot be %s's reference: %s", source, version, exc)
        return f"{source} cannot be read as a reference: {exc}"
    counts = await asyncio.to_thread(profile, window)
    made = {"run": evaluated.run.id, "counts": counts, "cases": evaluated.cases, "suite": evaluated.words()}
    await store.set_meta(key, json.dumps(made))
    log.info("drift: reference of %s made from its evaluation on %s", version, evaluated.words())
    return EvaluationMix(
        counts, evaluated.cases, evaluated.run.id, evaluated.words(), _texts(store, evaluated.run)
    )


def _texts(store: EvaluationReader, run: EvalRunRecord) -> Callable[[], Awaitable[list[str]]]:
    """Reads the run's suite's cases as input texts, when asked (a suite may be thousands of cases)."""

    async def read() -> list[str]:
        suite = await store.get_suite(run.suite, run.suite_version)
        if suite is None:
            return []
        source = f"suite {suite.name} v{suite.version}"
        window = await asyncio.to_thread(evaluation_window, suite.cases, source)
        return [i.input_text for i in window.inputs]

    return read
