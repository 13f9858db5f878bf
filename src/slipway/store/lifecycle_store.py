"""What the store keeps of the work around a rollout: request inputs, suites and runs, checklists, drills.

The postmortem's reads of a rollout's records are here too: they join the
records with what each request asked.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from slipway.core.lifecycle import ChecklistRecord, DrillRecord, EvalRunRecord, RequestInput, SuiteVersion
from slipway.core.postmortem import LabelledAnswer, ServedCounts
from slipway.store.access import StoreAccess
from slipway.store.repositories import lifecycle, request_inputs
from slipway.store.repositories import postmortem as postmortem_rows


class LifecycleStore(StoreAccess):
    async def write_request_inputs(self, inputs: Sequence[RequestInput]) -> None:
        if inputs:
            await self._write(f"write {len(inputs)} request inputs", request_inputs.write, inputs)

    async def request_inputs(self, request_ids: Sequence[str]) -> dict[str, RequestInput]:
        """The stored inputs of these requests, by id; requests without one are absent."""
        return await self._read("read request inputs", request_inputs.read, request_ids)

    async def served_by(
        self, slot: str, version: str | None, *, since: float, until: float | None = None
    ) -> ServedCounts:
        """What `version` on `slot` served in [since, until): counts per category, sticky keys, span."""
        query = functools.partial(
            postmortem_rows.served, slot=slot, version=version, since=since, until=until
        )
        return await self._read(f"count what {slot} served", query)

    async def labelled_answers(
        self, slot: str, version: str | None, *, since: float, until: float | None = None
    ) -> list[LabelledAnswer]:
        """The labelled requests of `version` on `slot` in [since, until), each with its latest label."""
        query = functools.partial(
            postmortem_rows.labelled, slot=slot, version=version, since=since, until=until
        )
        return await self._read(f"read {slot}'s labelled answers", query)

    async def category_counts(self, slot: str | None, *, since: float, until: float) -> dict[str, int]:
        """Requests per category `slot` (None: every slot) got in [since, until)."""
        query = functools.partial(postmortem_rows.category_counts, slot=slot, since=since, until=until)
        return await self._read("count requests per category", query)

    async def latest_request_ids(self, slot: str, *, since: float, until: float, limit: int) -> list[str]:
        """The ids of the latest `limit` requests `slot` got in [since, until)."""
        query = functools.partial(
            postmortem_rows.latest_ids, slot=slot, since=since, until=until, limit=limit
        )
        return await self._read(f"list {slot}'s latest requests", query)

    async def add_suite_version(
        self,
        name: str,
        *,
        at: float,
        actor: str,
        note: str,
        rule: dict[str, Any],
        cases: list[dict[str, Any]],
        based_on: int | None = None,
    ) -> SuiteVersion:
        """Append the next version of suite `name` (version 1 creates it); `SuiteChanged` if
        `based_on` (the version `cases` were built from, 0 for none) is no longer the latest."""
        job = functools.partial(
            lifecycle.add_suite_version,
            name=name,
            at=at,
            actor=actor,
            note=note,
            rule=rule,
            cases=cases,
            based_on=based_on,
        )
        return await self._write(f"save suite {name!r}", job)

    async def get_suite(self, name: str, version: int | None = None) -> SuiteVersion | None:
        return await self._read(f"read suite {name!r}", lifecycle.get_suite, name, version)

    async def latest_suites(self) -> list[SuiteVersion]:
        return await self._read("list suites", lifecycle.latest_suites)

    async def add_eval_run(self, run: EvalRunRecord) -> None:
        await self._write(f"save evaluation run {run.id!r}", lifecycle.add_eval_run, run)

    async def get_eval_run(self, run_id: str) -> EvalRunRecord | None:
        return await self._read(f"read evaluation run {run_id!r}", lifecycle.get_eval_run, run_id)

    async def list_eval_runs(
        self,
        *,
        suite: str | None = None,
        slot_version: str | None = None,
        deployment_id: str | None = None,
        limit: int = 50,
    ) -> list[EvalRunRecord]:
        query = functools.partial(
            lifecycle.list_eval_runs,
            suite=suite,
            slot_version=slot_version,
            deployment_id=deployment_id,
            limit=limit,
        )
        return await self._read("list evaluation runs", query)

    async def add_checklist(self, record: ChecklistRecord) -> None:
        await self._write(f"save checklist {record.id!r}", lifecycle.add_checklist, record)

    async def list_checklists(self, *, version: str | None = None, limit: int = 50) -> list[ChecklistRecord]:
        query = functools.partial(lifecycle.list_checklists, version=version, limit=limit)
        return await self._read("list checklists", query)

    async def add_drill(self, record: DrillRecord) -> None:
        await self._write(f"save drill {record.id!r}", lifecycle.add_drill, record)

    async def list_drills(self, limit: int = 50) -> list[DrillRecord]:
        return await self._read("list drills", functools.partial(lifecycle.list_drills, limit=limit))
