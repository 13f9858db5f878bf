"""Leader election between real leases: real PostgreSQL sessions, real lock files, real processes.

Nothing here is mocked. Every wait polls for the awaited state with a generous
deadline and no test asserts on elapsed time; how long an election took is
only logged (run with `-s -o log_cli=true` to see it).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.integration.store.builders import T0

from slipway.core.errors import ConflictError, NotLeaderError
from slipway.store import Store, open_store
from slipway.store.leadership import LeaderLease
from slipway.store.repositories import leadership as leader_rows
from slipway.store.repositories import meta

log = logging.getLogger("tests.leadership")

#: How long any awaited event may take before the test fails (an election takes a second or two).
DEADLINE_S = 15.0


def fast_lease(url: str, holder: str, *, retry_s: float = 0.05) -> LeaderLease:
    """Campaigns and checks fast enough that the tests take little time, not so fast they hammer."""
    return LeaderLease(url, holder, retry_s=retry_s, check_interval_s=0.05)


POSTGRES_ONLY = pytest.mark.parametrize(
    "store_url", [pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)], indirect=True
)


@dataclass
class Candidate:
    """A lease running as a task, with what its callbacks saw."""

    lease: LeaderLease
    elected: list[int] = field(default_factory=list)
    deposed: int = 0
    task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.lease.holder

    async def on_elected(self, epoch: int) -> None:
        self.elected.append(epoch)

    async def on_deposed(self) -> None:
        self.deposed += 1

    def start(self) -> Candidate:
        self.task = asyncio.create_task(self.lease.run(self.on_elected, self.on_deposed))
        return self


@pytest.fixture
async def campaign(store: Store, store_url: str) -> AsyncIterator[Callable[..., Candidate]]:
    """Start leases on the (migrated) test store; all of them are closed at the end."""
    started: list[Candidate] = []

    def start(holder: str, *, retry_s: float = 0.05) -> Candidate:
        candidate = Candidate(fast_lease(store_url, holder, retry_s=retry_s)).start()
        started.append(candidate)
        return candidate

    try:
        yield start
    finally:
        for candidate in started:
            await candidate.lease.close()


async def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {DEADLINE_S:g} s for: {what}")
        await asyncio.sleep(0.01)


async def leaders_after_a_while(candidates: list[Candidate]) -> list[str]:
    """Who leads after every candidate had time to campaign many times over."""
    await asyncio.sleep(0.3)
    return [c.name for c in candidates if c.lease.epoch is not None]


async def until_elected(candidate: Candidate) -> None:
    await eventually(lambda: bool(candidate.elected), f"{candidate.name} elected")


def refuse_stale(store_url: str, stale: int, current: int) -> None:
    """In one write transaction: write something, then check `stale`; all of it must be refused."""
    engine = create_engine(store_url)
    try:
        with pytest.raises(NotLeaderError) as refused, engine.begin() as connection:
            meta.set_(connection, "written-by-a-former-leader", "yes")
            leader_rows.check_epoch(connection, stale)
        assert isinstance(refused.value, ConflictError)
        assert refused.value.message == (
            f"this replica is no longer the leader (epoch {stale}, now {current}): its change was refused"
        )
        with engine.begin() as connection:
            assert meta.get(connection, "written-by-a-former-leader") is None
            leader_rows.check_epoch(connection, current)  # the current leader's check passes
    finally:
        engine.dispose()


async def test_of_two_leases_exactly_one_leads_and_closing_it_elects_the_other(
    store: Store, campaign: Callable[..., Candidate]
) -> None:
    a, b = campaign("replica-a"), campaign("replica-b")
    await eventually(lambda: bool(a.elected or b.elected), "a leader")
    assert len(await leaders_after_a_while([a, b])) == 1
    first, second = (a, b) if a.elected else (b, a)
    assert first.elected == [first.lease.epoch] and second.elected == []
    assert (await store.leadership())[:2] == (first.elected[0], first.name)

    closed_at = time.monotonic()
    await first.lease.close()
    await eventually(lambda: bool(second.elected), f"{second.name} elected after {first.name} closed")
    log.info("election after a clean close took %.2f s", time.monotonic() - closed_at)

    assert first.deposed == 1 and first.lease.epoch is None
    assert second.elected == [second.lease.epoch]
    assert second.elected[0] > first.elected[0]
    assert (await store.leadership())[:2] == (second.elected[0], second.name)


async def test_epochs_strictly_increase_from_term_to_term(
    store: Store, campaign: Callable[..., Candidate]
) -> None:
    epochs: list[int] = []
    for term in range(5):
        candidate = campaign(f"replica-{term}")
        await until_elected(candidate)
        epochs += candidate.elected
        await candidate.lease.close()
    assert epochs == sorted(set(epochs)) and len(epochs) == 5
    assert (await store.leadership()).epoch == epochs[-1]


async def test_a_stale_epoch_is_refused_inside_the_write_transaction_and_nothing_of_it_commits(
    store: Store, store_url: str
) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as connection:
            stale = leader_rows.take_office(connection, "replica-a", T0)
        with engine.begin() as connection:
            current = leader_rows.take_office(connection, "replica-b", T0 + 1)
    finally:
        engine.dispose()
    refuse_stale(store_url, stale, current)


async def test_a_leader_process_killed_with_sigkill_hands_over_to_a_lease_here(
    store: Store, store_url: str, campaign: Callable[..., Candidate]
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_LEASE, store_url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), DEADLINE_S)
        assert line.startswith(b"elected "), line
        child_epoch = int(line.split()[1])

        here = campaign("replica-here")
        assert await leaders_after_a_while([here]) == []

        killed_at = time.monotonic()
        child.kill()
        await child.wait()
        await eventually(lambda: bool(here.elected), "a lease here elected after the leader was killed")
        log.info("election after kill -9 of the leader took %.2f s", time.monotonic() - killed_at)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()

    assert here.elected[0] > child_epoch
    assert (await store.leadership())[:2] == (here.elected[0], "replica-here")
    refuse_stale(store_url, child_epoch, here.elected[0])


@POSTGRES_ONLY
async def test_a_leader_whose_session_is_terminated_is_deposed_and_the_other_elected(
    store: Store, store_url: str, campaign: Callable[..., Candidate]
) -> None:
    # The old leader waits 60 s before campaigning again, so the handover cannot go back to it.
    old = campaign("replica-old", retry_s=60.0)
    await eventually(lambda: bool(old.elected), "the first leader")
    new = campaign("replica-new")
    assert await leaders_after_a_while([old, new]) == ["replica-old"]

    engine = create_engine(store_url)
    try:
        with engine.begin() as connection:
            terminated = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'slipway-leader:replica-old'"
                )
            ).all()
        assert terminated == [(True,)]
        cut_at = time.monotonic()
        await eventually(lambda: old.deposed == 1, "the old leader deposed")
        assert old.lease.epoch is None
        await eventually(lambda: bool(new.elected), "the other lease elected")
        log.info("election after the leader's session was terminated took %.2f s", time.monotonic() - cut_at)
    finally:
        engine.dispose()

    assert new.elected[0] > old.elected[0]
    assert old.elected == [old.elected[0]]  # it did not win again
    refuse_stale(store_url, old.elected[0], new.elected[0])


@POSTGRES_ONLY
async def test_a_new_leader_takes_office_only_after_a_transition_under_way_commits(
    store: Store, store_url: str
) -> None:
    engine = create_engine(store_url)
    taken: list[int] = []

    def take_office() -> None:
        with engine.begin() as connection:
            taken.append(leader_rows.take_office(connection, "replica-new", T0 + 1))

    try:
        with engine.begin() as connection:
            old = leader_rows.take_office(connection, "replica-old", T0)
        with engine.begin() as transition:
            leader_rows.check_epoch(transition, old)  # the row is locked until this commits
            successor = threading.Thread(target=take_office)
            successor.start()
            successor.join(0.5)
            assert successor.is_alive() and taken == []
            meta.set_(transition, "committed-under", str(old))
        successor.join(DEADLINE_S)
        assert taken == [old + 1]
        with engine.begin() as connection:
            assert meta.get(connection, "committed-under") == str(old)
    finally:
        engine.dispose()
    refuse_stale(store_url, old, old + 1)


@POSTGRES_ONLY
async def test_a_paused_leader_loses_its_session_and_is_refused_when_it_wakes(
    store: Store, store_url: str, campaign: Callable[..., Candidate]
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_LEASE, store_url, "2.5", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), DEADLINE_S)
        assert line.startswith(b"elected "), line
        child_epoch = int(line.split()[1])
        here = campaign("replica-here")
        assert await leaders_after_a_while([here]) == []

        paused_at = time.monotonic()
        child.send_signal(signal.SIGSTOP)
        await eventually(lambda: bool(here.elected), "a lease here elected while the leader is paused")
        log.info("election while the leader was paused took %.2f s", time.monotonic() - paused_at)
        refuse_stale(store_url, child_epoch, here.elected[0])

        child.send_signal(signal.SIGCONT)
        line = await asyncio.wait_for(child.stdout.readline(), DEADLINE_S)
        assert line == b"deposed\n"
        assert await leaders_after_a_while([here]) == ["replica-here"]
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def test_an_unreachable_sqlite_store_is_retried_and_never_ends_the_campaign(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lease = fast_lease(f"sqlite:///{tmp_path}/missing/dir/slipway.db", "replica-a")
    await unreachable_is_retried(lease, caplog)


async def test_an_unreachable_postgres_server_is_retried_and_never_ends_the_campaign(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    lease = fast_lease(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none", "replica-a")
    await unreachable_is_retried(lease, caplog)


async def unreachable_is_retried(lease: LeaderLease, caplog: pytest.LogCaptureFixture) -> None:
    async def never(*_: object) -> None:
        raise AssertionError("nobody can be elected without a database")

    caplog.set_level(logging.WARNING, logger="slipway.leader")
    task = asyncio.create_task(lease.run(never, never))
    try:
        await eventually(
            lambda: len([r for r in caplog.records if "could not campaign" in r.getMessage()]) >= 3,
            "three failed campaigns, logged",
        )
        assert not task.done() and lease.epoch is None
    finally:
        await lease.close()
    assert task.cancelled()


async def test_a_failing_on_elected_is_logged_deposed_and_the_lease_campaigns_again(
    store: Store, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    elected: list[int] = []
    deposed: list[int] = []

    async def on_elected(epoch: int) -> None:
        elected.append(epoch)
        if len(elected) == 1:
            raise RuntimeError("the controllers could not start")

    async def on_deposed() -> None:
        deposed.append(len(elected))

    lease = fast_lease(store_url, "replica-a")
    task = asyncio.create_task(lease.run(on_elected, on_deposed))
    try:
        await eventually(lambda: len(elected) == 2, "a second term after the first failed")
        assert deposed == [1] and elected[1] > elected[0] and lease.epoch == elected[1]
    finally:
        await lease.close()
    assert deposed == [1, 2] and task.cancelled()
    failures = [r for r in caplog.records if r.name == "slipway.leader" and r.exc_info]
    assert failures and "could not start" in str(failures[0].exc_info[1] if failures[0].exc_info else "")


async def test_a_lease_whose_lock_file_is_replaced_steps_down_even_while_still_starting(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/slipway.db"
    store = await open_store(url)
    started, cancelled, deposed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_start(_epoch: int) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never returns by itself
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def on_deposed() -> None:
        deposed.set()

    lease = fast_lease(url, "replica-a", retry_s=60.0)
    task = asyncio.create_task(lease.run(slow_start, on_deposed))
    try:
        await asyncio.wait_for(started.wait(), DEADLINE_S)
        lock_file = tmp_path / "slipway.db.leader"
        lock_file.unlink()
        lock_file.touch()
        await asyncio.wait_for(deposed.wait(), DEADLINE_S)
        assert cancelled.is_set() and lease.epoch is None and not task.done()
    finally:
        await lease.close()
        await store.close()
    assert task.cancelled()


CHILD_LEASE = """
import asyncio, sys
from slipway.store.leadership import LeaderLease

async def main() -> None:
    hold_timeout_s = float(sys.argv[2]) if len(sys.argv) > 2 else None
    lease = LeaderLease(
        sys.argv[1], "replica-child", retry_s=0.05, check_interval_s=0.05, hold_timeout_s=hold_timeout_s
    )

    async def elected(epoch: int) -> None:
        print(f"elected {epoch}", flush=True)

    async def deposed() -> None:
        print("deposed", flush=True)

    await lease.run(elected, deposed)

asyncio.run(main())
"""
