"""Evaluation suites and runs, checklists and drills: appended, read newest first.

Suites are versioned by appending: a new version's number is the latest plus
one, taken in the same transaction as the insert, so two writers adding to one
suite cannot both get the same number (the primary key refuses the second).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, insert, select
from sqlalchemy.exc import IntegrityError

from slipway.core.errors import SuiteChanged
from slipway.core.lifecycle import ChecklistRecord, DrillRecord, EvalRunRecord, SuiteVersion
from slipway.store.schema import checklists, drills, eval_runs, eval_suites

# -- suites ---------------------------------------------------------------------


def add_suite_version(
    connection: Connection,
    name: str,
    *,
    at: float,
    actor: str,
    note: str,
    rule: dict[str, Any],
    cases: list[dict[str, Any]],
    based_on: int | None = None,
) -> SuiteVersion:
    """Append the next version of suite `name` (1 for a new suite) and return it.

    `based_on` is the version the caller built `cases` from (0: the suite did
    not exist); if another writer added one since, `SuiteChanged` and nothing
    is written. Two writers that read the same latest version at once both
    pass that check on PostgreSQL; the primary key then refuses the second,
    which is the same conflict.
    """
    latest = connection.execute(
        select(func.max(eval_suites.c.version)).where(eval_suites.c.name == name)
    ).scalar_one_or_none()
    if based_on is not None and int(latest or 0) != based_on:
        raise SuiteChanged(name, based_on, latest)
    row = {
        "name": name,
        "version": int(latest or 0) + 1,
        "created_at": at,
        "actor": actor,
        "note": note,
        "rule": rule,
        "cases": cases,
    }
    try:
        connection.execute(insert(eval_suites).values(**row))
    except IntegrityError:
        if based_on is None:
            raise
        raise SuiteChanged(name, based_on, None) from None
    return _suite(row)


def get_suite(connection: Connection, name: str, version: int | None = None) -> SuiteVersion | None:
    """Version `version` of suite `name`, or its latest when `version` is None."""
    query = select(eval_suites).where(eval_suites.c.name == name)
    query = (
        query.where(eval_suites.c.version == version)
        if version is not None
        else query.order_by(eval_suites.c.version.desc()).limit(1)
    )
    row = connection.execute(query).first()
    return None if row is None else _suite(row._mapping)


def latest_suites(connection: Connection) -> list[SuiteVersion]:
    """The latest version of every suite, by name."""
    newest = (
        select(eval_suites.c.name, func.max(eval_suites.c.version).label("version"))
        .group_by(eval_suites.c.name)
        .subquery()
    )
    query = (
        select(eval_suites)
        .join(newest, (eval_suites.c.name == newest.c.name) & (eval_suites.c.version == newest.c.version))
        .order_by(eval_suites.c.name)
    )
    return [_suite(row._mapping) for row in connection.execute(query)]


def _suite(row: Any) -> SuiteVersion:
    return SuiteVersion(
        name=row["name"],
        version=int(row["version"]),
        created_at=float(row["created_at"]),
        actor=row["actor"],
        note=row["note"],
        rule=dict(row["rule"] or {}),
        cases=list(row["cases"] or []),
    )


# -- evaluation runs ---------------------------------------------------------------


def add_eval_run(connection: Connection, run: EvalRunRecord) -> None:
    connection.execute(
        insert(eval_runs).values(
            id=run.id,
            at=run.at,
            suite=run.suite,
            suite_version=run.suite_version,
            slot=run.slot,
            slot_version=run.slot_version,
            against=run.against,
            against_version=run.against_version,
            deployment_id=run.deployment_id,
            passed=run.passed,
            actor=run.actor,
            result=dict(run.result),
        )
    )


def list_eval_runs(
    connection: Connection,
    *,
    suite: str | None = None,
    slot_version: str | None = None,
    deployment_id: str | None = None,
    limit: int = 50,
) -> list[EvalRunRecord]:
    """Runs newest first, optionally of one suite, one version under test, or one deployment."""
    query = select(eval_runs)
    if suite is not None:
        query = query.where(eval_runs.c.suite == suite)
    if slot_version is not None:
        query = query.where(eval_runs.c.slot_version == slot_version)
    if deployment_id is not None:
        query = query.where(eval_runs.c.deployment_id == deployment_id)
    query = query.order_by(eval_runs.c.at.desc(), eval_runs.c.id.desc()).limit(limit)
    return [_eval_run(row) for row in connection.execute(query)]


def get_eval_run(connection: Connection, run_id: str) -> EvalRunRecord | None:
    row = connection.execute(select(eval_runs).where(eval_runs.c.id == run_id)).first()
    return None if row is None else _eval_run(row)


def _eval_run(row: Row[Any]) -> EvalRunRecord:
    return EvalRunRecord(
        id=row.id,
        at=float(row.at),
        suite=row.suite,
        suite_version=int(row.suite_version),
        slot=row.slot,
        slot_version=row.slot_version,
        passed=bool(row.passed),
        actor=row.actor,
        result=dict(row.result or {}),
        against=row.against,
        against_version=row.against_version,
        deployment_id=row.deployment_id,
    )


# -- checklists ------------------------------------------------------------------------


def add_checklist(connection: Connection, record: ChecklistRecord) -> None:
    connection.execute(
        insert(checklists).values(
            id=record.id,
            at=record.at,
            version=record.version,
            slot=record.slot,
            deployment_id=record.deployment_id,
            actor=record.actor,
            passed=record.passed,
            items=[dict(item) for item in record.items],
        )
    )


def list_checklists(
    connection: Connection, *, version: str | None = None, limit: int = 50
) -> list[ChecklistRecord]:
    """Checklists newest first, optionally for one version."""
    query = select(checklists)
    if version is not None:
        query = query.where(checklists.c.version == version)
    query = query.order_by(checklists.c.at.desc(), checklists.c.id.desc()).limit(limit)
    return [
        ChecklistRecord(
            id=row.id,
            at=float(row.at),
            version=row.version,
            slot=row.slot,
            actor=row.actor,
            passed=bool(row.passed),
            items=list(row.items or []),
            deployment_id=row.deployment_id,
        )
        for row in connection.execute(query)
    ]


# -- drills ------------------------------------------------------------------------------


def add_drill(connection: Connection, record: DrillRecord) -> None:
    connection.execute(
        insert(drills).values(
            id=record.id,
            at=record.at,
            actor=record.actor,
            slot=record.slot,
            passed=record.passed,
            result=dict(record.result),
        )
    )


def list_drills(connection: Connection, *, limit: int = 50) -> list[DrillRecord]:
    """Drills newest first."""
    query = select(drills).order_by(drills.c.at.desc(), drills.c.id.desc()).limit(limit)
    return [
        DrillRecord(
            id=row.id,
            at=float(row.at),
            actor=row.actor,
            slot=row.slot,
            passed=bool(row.passed),
            result=dict(row.result or {}),
        )
        for row in connection.execute(query)
    ]
