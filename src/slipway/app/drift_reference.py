"""A version's drift reference from its evaluation data: the cases of the suite it was last judged on.

A version's first requests are whatever traffic happened to come; the suite
it was evaluated on is what it was actually tested for, so "billing rose
from 20% to 35% since v2.2's evaluation" names the gap that matters. The
cases are read as the gateway reads a request (`gateway.inputs.input_of` on
the request the evaluation sent), so a case and a live request of the same
text land in the same length, script and turns bins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slipway.core.arms import UNCATEGORIZED
from slipway.core.lifecycle import EvalRunRecord, RequestInput, SuiteVersion
from slipway.core.records import Api, InputWindow
from slipway.evals.suite import stored_cases
from slipway.gateway.inputs import input_of

#: Runs read per version to find the latest one whose suite is still stored.
RUNS_READ = 20


class EvaluationReader(Protocol):
    """What the reference reads of the store: a version's evaluation runs and their suites."""

    async def list_eval_runs(
        self, *, slot_version: str | None = None, limit: int = 50
    ) -> list[EvalRunRecord]: ...

    async def get_suite(self, name: str, version: int | None = None) -> SuiteVersion | None: ...


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
