"""The store: async methods over a single writer thread and a few reader threads.

asyncio code must never block on the database, and SQLite must never see two
writers. So every write is a job for one dedicated thread that owns the only
writing connection (each job is one transaction), and reads run on a small
pool of their own; the async methods only hand jobs over with
`run_in_executor` and translate failures into `StoreError` on the way back.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection

from slipway.core.arms import ArmWindow, ArmWindowReader
from slipway.core.canary import CanaryEvent, CanaryRecord
from slipway.core.deliveries import Delivery
from slipway.core.deployments import Deployment
from slipway.core.errors import StoreUnavailable
from slipway.core.lifecycle import RequestInput
from slipway.core.ports import (
    CanaryStore,
    DeploymentStore,
    MetaStore,
    PairStore,
    RecordStore,
    RouteStore,
    ShadowStore,
)
from slipway.core.records import Feedback, InputMix, InputWindow, RequestRecord
from slipway.core.replicas import Leadership, ReplicaBeat
from slipway.core.shadow import ShadowPair, ShadowRun
from slipway.core.types import RouteChange, RouteTable
from slipway.store import migrate
from slipway.store.errors import translate_errors
from slipway.store.lifecycle_store import LifecycleStore
from slipway.store.repositories import (
    arm_windows,
    canaries,
    deployments,
    input_mix,
    meta,
    rollout_marks,
    routes,
    shadows,
)
from slipway.store.repositories import deliveries as delivery_rows
from slipway.store.repositories import leadership as leader_rows
from slipway.store.repositories import records as request_rows
from slipway.store.repositories import replicas as replica_rows
from slipway.store.sql_engines import SqlEngines, create_sql_engines, describe, parse_url

#: Reader threads (and reader connections): reads are short, a few suffice.
DEFAULT_READERS = 4
#: How long `ping` waits for the database to answer before calling it unavailable.
PING_TIMEOUT_S = 2.0


def default_store_url(workdir: Path) -> str:
    return f"sqlite:///{(workdir.resolve() / '.slipway' / 'slipway.db').as_posix()}"


async def open_store(url: str, *, readers: int = DEFAULT_READERS) -> Store:
    """Connect, migrate to the current schema, and return a ready store.

    Raises StoreError when the database cannot be reached, created or migrated.
    """
    parsed = parse_url(url)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slipway-store-write")
    reader = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="slipway-store-read")
    loop = asyncio.get_running_loop()
    engines: SqlEngines | None = None
    try:
        with translate_errors("open the store", describe(parsed)):
            engines = await loop.run_in_executor(
                writer, functools.partial(create_sql_engines, parsed, readers=readers)
            )
            await loop.run_in_executor(writer, migrate.upgrade_to_head, engines.writer)
    except BaseException:
        if engines is not None:
            await loop.run_in_executor(writer, engines.writer.dispose)
            engines.reader.dispose()
        writer.shutdown(wait=True)
        reader.shutdown(wait=True)
        raise
    return Store(engines, writer=writer, reader=reader)


class Store(LifecycleStore):
    """Implements the store ports (routes, records, deployments, canaries, shadows…); see `open_store`.

    Its plumbing (the writer and reader threads, `_write`, `_read`) is `StoreAccess`; what the work
    around a rollout keeps (inputs, suites, runs, checklists, drills) is `LifecycleStore`.
    """

    # -- routes ------------------------------------------------------------

    async def load_routes(self) -> RouteTable | None:
        return await self._read("load the route table", routes.load)

    async def commit_routes(
        self, table: RouteTable, *, expected_version: int, change: RouteChange
    ) -> RouteTable:
        commit = functools.partial(routes.commit, expected_version=expected_version, change=change)
        return await self._write("commit the route table", commit, table)

    async def route_history(self, limit: int = 100) -> list[RouteChange]:
        return await self._read("read the route history", routes.history, limit)

    async def route_version(self) -> int:
        """The committed route version (0 on a fresh store); what replicas poll to notice a change."""
        return await self._read("read the route version", routes.version)

    async def change_marks(self) -> tuple[int, int]:
        """The route version and the count of canary and shadow saves, in one read: what replicas poll."""
        return await self._read("read the route version", _change_marks)

    @property
    def url(self) -> URL:
        """The store's URL (with its password), for a connection of one's own such as a listener."""
        return self._engines.url

    # -- requests and feedback ---------------------------------------------

    async def write_records(
        self,
        records: Sequence[RequestRecord],
        *,
        checkpoint: tuple[str, str] | None = None,
        inputs: Sequence[RequestInput] = (),
    ) -> None:
        """The records, what they asked and the checkpoint, in one transaction (see records.write)."""
        if records or checkpoint is not None or inputs:
            job = functools.partial(request_rows.write, checkpoint=checkpoint, inputs=inputs)
            await self._write(f"write {len(records)} request records", job, records)

    async def add_feedback(self, feedback: Feedback) -> bool:
        return await self._write("add feedback", request_rows.add_feedback, feedback)

    async def latest_feedback(self, request_id: str) -> Feedback | None:
        return await self._read("read feedback", request_rows.latest_feedback, request_id)

    async def request_exists(self, request_id: str) -> bool:
        return await self._read("look up a request", request_rows.exists, request_id)

    async def get_request(self, request_id: str) -> RequestRecord | None:
        return await self._read("read a request record", request_rows.get, request_id)

    async def list_requests(
        self,
        *,
        since: float,
        until: float | None = None,
        slot: str | None = None,
        limit: int | None = None,
    ) -> list[RequestRecord]:
        """Records started in [since, until), oldest first."""
        query = functools.partial(request_rows.list_since, since=since, until=until, slot=slot, limit=limit)
        return await self._read("read request records", query)

    async def requests_with_feedback(
        self, *, since: float, until: float | None = None
    ) -> list[tuple[RequestRecord, Feedback]]:
        """Requests started in [since, until) that have feedback, each with its latest, oldest first."""
        query = functools.partial(request_rows.with_feedback, since=since, until=until)
        return await self._read("read requests with feedback", query)

    async def traffic_since(self, since: float) -> tuple[int, float | None]:
        """Requests started since `since` (all slots), and when the first of them started."""
        return await self._read("measure recent traffic", request_rows.traffic_since, since)

    async def input_mix_since(self, slot: str, since: float, limit: int) -> InputMix:
        """The input mix of the first `limit` requests `slot` got at or after `since`."""
        return await self._read(f"read {slot}'s input mix", input_mix.first_since, slot, since, limit)

    async def input_mix_latest(self, slot: str, limit: int) -> InputMix:
        """The input mix of the latest `limit` requests `slot` got."""
        return await self._read(f"read {slot}'s latest input mix", input_mix.latest, slot, limit)

    async def input_window_since(self, slot: str, since: float, limit: int) -> InputWindow:
        """The first `limit` requests `slot` got at or after `since`: categories and stored inputs."""
        query = functools.partial(input_mix.window_first_since, slot=slot, since=since, limit=limit)
        return await self._read(f"read {slot}'s inputs", query)

    async def input_window_latest(self, slot: str, limit: int) -> InputWindow:
        """The latest `limit` requests `slot` got: categories and stored inputs."""
        query = functools.partial(input_mix.window_latest, slot=slot, limit=limit)
        return await self._read(f"read {slot}'s latest inputs", query)

    async def request_counts(self, since: float) -> dict[str, dict[str, int]]:
        """Per slot, requests started since `since`: {"total": n, "errors": m}."""
        return await self._read("count requests", request_rows.counts, since)

    async def read_arm_window(
        self, slot: str, *, since: float, until: float, sample_cap: int = 10_000
    ) -> ArmWindow:
        """One slot over [since, until) for canary analysis (core.arms): counts, a uniform
        subsample of at most `sample_cap` completed requests, merged feedback."""
        windows = await self.read_arm_windows([slot], since=since, until=until, sample_cap=sample_cap)
        return windows[slot]

    async def read_arm_windows(
        self, slots: Sequence[str], *, since: float, until: float, sample_cap: int = 10_000
    ) -> dict[str, ArmWindow]:
        """Several slots over the same window, as `read_arm_window`; the reads run at once on the
        reader pool, and one feedback query serves every slot."""
        names = list(dict.fromkeys(slots))
        sizes = await asyncio.gather(
            *(self._read("count a slot's requests", arm_windows.count, s, since, until) for s in names)
        )
        reads: list[Awaitable[Any]] = []
        for slot, n in zip(names, sizes, strict=True):
            probability = arm_windows.sampling_probability(n, sample_cap)
            subsample = functools.partial(
                arm_windows.subsample, probability=probability, cap=sample_cap, requests_in_window=n
            )
            reads.append(
                self._read("count a slot's requests per category", arm_windows.counts, slot, since, until)
            )
            reads.append(self._read("sample a slot's completed requests", subsample, slot, since, until))
        feedback_in = functools.partial(arm_windows.feedback_in, requests_in_window=sum(sizes))
        reads.append(self._read("read the slots' feedback", feedback_in, names, since, until))
        *per_slot, feedback = await asyncio.gather(*reads)
        windows = {}
        for i, slot in enumerate(names):
            counts, sample = per_slot[2 * i], per_slot[2 * i + 1]
            windows[slot] = ArmWindow(
                slot=slot,
                since=since,
                until=until,
                totals=counts.totals,
                category_requests=counts.categories,
                sampled_from=counts.totals.completed,
                latency_ms=[row[0] for row in sample],
                ttft_ms=[row[1] for row in sample],
                output_chars=[row[2] for row in sample],
                output_heads=[row[3] for row in sample],
                accuracy={c: (n, k) for c, (n, k) in feedback[slot].accuracy.items()},
                rated=feedback[slot].rated,
                satisfied=feedback[slot].satisfied,
            )
        return windows

    async def ping(self, timeout: float = PING_TIMEOUT_S) -> None:
        """Raise StoreUnavailable unless the database answers a trivial query within `timeout` s.

        One probe runs at a time, and a caller that gives up does not cancel it:
        a database that hangs ties up one reader thread, not one per caller.
        """
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self._read("check that the store answers", _select_one))
            self._ping.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(self._ping), timeout)
        except TimeoutError:
            raise StoreUnavailable(
                f"{self.where} did not answer within {timeout:g} s",
                hint="Check that the database server is up and reachable, and not overloaded.",
            ) from None

    # -- meta ----------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        return await self._read(f"read meta key {key!r}", meta.get, key)

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(f"write meta key {key!r}", meta.set_, key, value)

    async def take_meta(self, prefix: str) -> dict[str, str]:
        """Remove and return the meta keys starting with `prefix` (one replica gets each)."""
        return await self._write(f"take meta keys {prefix!r}*", meta.take, prefix)

    async def delete_meta(self, key: str) -> None:
        await self._write(f"delete meta key {key!r}", meta.delete_, key)

    async def take_meta_of_silent(self, prefix: str, *, alive_since: float, mine: str) -> dict[str, str]:
        """Remove and return the `<prefix><replica id>` keys of replicas silent since `alive_since`.

        A replica that beats keeps its own set (it delivers it itself); each
        silent one's set goes to one caller only; `mine` is never taken.
        """
        return await self._write(
            f"take meta keys {prefix!r}* of silent replicas", meta.take_of_silent, prefix, alive_since, mine
        )

    # -- notification deliveries ---------------------------------------------------

    async def add_deliveries(self, deliveries: list[Delivery]) -> None:
        """Record what became of notifications at their sinks (the oldest rows beyond a bound go)."""
        if deliveries:
            await self._write(
                f"record {len(deliveries)} notification deliveries", delivery_rows.add, deliveries
            )

    async def list_deliveries(self, limit: int) -> list[Delivery]:
        """The latest `limit` delivery outcomes, newest first."""
        return await self._read("list notification deliveries", delivery_rows.newest_first, limit)

    # -- deployments -----------------------------------------------------------

    async def save_deployment(self, deployment: Deployment) -> None:
        await self._write(f"save deployment {deployment.id!r}", deployments.save, deployment)

    async def get_deployment(self, deployment_id: str) -> Deployment | None:
        return await self._read(f"read deployment {deployment_id!r}", deployments.get, deployment_id)

    async def list_deployments(self, limit: int = 50) -> list[Deployment]:
        return await self._read("list deployments", deployments.list_newest_first, limit)

    # -- canaries ----------------------------------------------------------------

    async def save_canary(self, record: CanaryRecord, *, expected_revision: int) -> CanaryRecord:
        job = functools.partial(canaries.save, expected_revision=expected_revision)
        return await self._write(f"save canary {record.deployment_id!r}", job, record)

    async def latest_canary(self) -> CanaryRecord | None:
        return await self._read("read the latest canary", canaries.latest)

    async def add_canary_event(self, event: CanaryEvent) -> None:
        await self._write(f"record a canary {event.kind}", canaries.add_event, event)

    async def canary_events(self, deployment_id: str, limit: int = 100) -> list[CanaryEvent]:
        return await self._read("read a canary's timeline", canaries.events, deployment_id, limit)

    # -- shadow runs and their pairs ---------------------------------------------

    async def save_shadow(self, run: ShadowRun, now: float) -> None:
        await self._write(f"save shadow run {run.deployment_id!r}", shadows.save, run, now)

    async def latest_shadow(self) -> ShadowRun | None:
        return await self._read("read the latest shadow run", shadows.latest)

    async def get_shadow(self, deployment_id: str) -> ShadowRun | None:
        return await self._read(f"read shadow run {deployment_id!r}", shadows.get, deployment_id)

    async def write_pairs(self, pairs: Sequence[ShadowPair]) -> None:
        if pairs:
            await self._write(f"write {len(pairs)} shadow pairs", shadows.write_pairs, pairs)

    async def read_pairs(self, deployment_id: str, limit: int | None = None) -> list[ShadowPair]:
        return await self._read("read shadow pairs", shadows.read_pairs, deployment_id, limit)

    async def pair_counts(self, deployment_id: str) -> dict[str | None, int]:
        return await self._read("count shadow pairs", shadows.counts, deployment_id)

    # -- lifecycle -------------------------------------------------------------

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (the head, once opened)."""
        return await self._read("read the schema revision", migrate.current_revision)

    async def close(self) -> None:
        """Wait for queued writes, then close every connection and thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        with translate_errors("close the store", self.where):
            try:
                await loop.run_in_executor(self._writer, self._engines.writer.dispose)
                await loop.run_in_executor(self._reader, self._engines.reader.dispose)
            finally:
                self._writer.shutdown(wait=True)
                self._reader.shutdown(wait=True)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- replicas and leadership -------------------------------------------------

    async def heartbeat(self, beat: ReplicaBeat) -> None:
        """Record that replica `beat.id` is alive, with what it reports about itself."""
        await self._write(f"record replica {beat.id!r}'s heartbeat", replica_rows.heartbeat, beat)

    async def live_replicas(self, since: float) -> list[ReplicaBeat]:
        """Replicas whose last heartbeat is newer than `since`, the longest-running first."""
        return await self._read("list the live replicas", replica_rows.live, since)

    async def forget_replica(self, replica_id: str) -> None:
        """Remove a replica's row, at its clean shutdown (a crashed one just stops beating)."""
        await self._write(f"forget replica {replica_id!r}", replica_rows.forget, replica_id)

    async def forget_silent_replicas(self, before: float) -> int:
        """Remove the rows of replicas silent since before `before`; how many went."""
        return await self._write("forget replicas that stopped beating", replica_rows.forget_silent, before)

    async def leadership(self) -> Leadership:
        """The current leadership epoch, who took office with it and when (0, None, None: nobody yet)."""
        return await self._read("read the leadership", leader_rows.get)


def _change_marks(connection: Connection) -> tuple[int, int]:
    return routes.version(connection), rollout_marks.read(connection)


def _select_one(connection: Connection) -> None:
    connection.exec_driver_sql("SELECT 1")


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a probe's outcome as seen: its callers may all have stopped waiting."""
    if not future.cancelled():
        future.exception()


def _implements_the_store_ports(
    store: Store,
) -> tuple[RouteStore, RecordStore, MetaStore, DeploymentStore, CanaryStore, ShadowStore, PairStore]:
    """Never called: mypy --strict checks here that `Store` still fits every store port."""
    return store, store, store, store, store, store, store


def _reads_arm_windows(store: Store) -> ArmWindowReader:
    """Never called: mypy --strict checks here that `Store` fits `core.arms.ArmWindowReader`."""
    return store
