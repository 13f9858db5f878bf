"""Two replicas keep serving while their PostgreSQL is down, and carry on by themselves when it is back.

Real processes: a PostgreSQL server of this test's own (stopping it must not
touch the server other tests share), two `slipway serve` replicas on it,
simulated backends on loopback, and steady load through the official `openai`
client. PostgreSQL is stopped for longer than the route poll and the heartbeat
intervals, then started again on the same port, with slipway left running.

What must hold, judged on outcomes only (every timeout is a failure guard):
no user request fails, during or after; an admin write during the outage is
refused with a 503 that says the store cannot be reached, while status still
answers; afterwards records are written again, the rows in the database are
exactly what the replicas counted as written, and what they did not write is
exactly what they counted as lost; a rollback sent to either replica is
served by both; and a leader is elected again.

Also here: a replica whose link to the store is slow (a delaying proxy) must
still answer its own admin calls truthfully.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from openai import AsyncOpenAI
from sqlalchemy import make_url
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.pg import PostgresServer, find_pg_bin, fresh_schema
from tests.processes import ServeProcess, admin_status, run_cli, slipway_serve, wait_for_status

pytestmark = pytest.mark.postgres

#: Longer than the route poll (1 s) and the heartbeat (2 s) several times over.
OUTAGE_S = 10.0
#: Requests per second sent to each replica.
RATE = 5.0
HTTP = 30.0


# ---------------------------------------------------------------- a PostgreSQL of this test's own


@contextlib.contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found (run scripts/ci-services, or set SLIPWAY_PG_BIN)")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def count_rows(server: PostgresServer, table: str) -> int:
    url = make_url(server.url)
    conninfo = f"host={url.host} port={url.port} user={url.username} dbname={url.database}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # a fixed name, not user input
    assert row is not None
    return int(row[0])


# ---------------------------------------------------------------- steady load through the openai client


@dataclass
class Answer:
    replica: str
    sent_at: float
    slot: str | None
    error: str | None


@dataclass
class Load:
    answers: list[Answer] = field(default_factory=list)

    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.error is not None]

    def served_since(self, t: float) -> dict[str, set[str]]:
        """Slots that answered requests sent at or after `t`, per replica."""
        seen: dict[str, set[str]] = {}
        for a in self.answers:
            if a.sent_at >= t and a.slot is not None:
                seen.setdefault(a.replica, set()).add(a.slot)
        return seen


async def _send(client: AsyncOpenAI, name: str, i: int, load: Load) -> None:
    sent_at = time.time()
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="customer-support",
            messages=[{"role": "user", "content": f"where is the refund for invoice {i}?"}],
        )
        completion = raw.parse()
        assert completion.choices, completion
        load.answers.append(Answer(name, sent_at, raw.headers.get("x-slipway-slot"), None))
    except Exception as exc:  # every failure a user would see, whatever its kind
        load.answers.append(Answer(name, sent_at, None, f"{type(exc).__name__}: {exc}"))


async def _steady(client: AsyncOpenAI, name: str, load: Load) -> None:
    """Open loop: a request every 1/RATE s whatever the answers take, so a stall cannot hide."""
    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic()
    try:
        for i in range(1_000_000):
            await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
            task = asyncio.create_task(_send(client, name, i, load))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        # Stopping the load lets what was sent finish: a request is judged by its answer.
        await asyncio.shield(asyncio.gather(*tasks))


@contextlib.asynccontextmanager
async def steady_load(replicas: dict[str, ServeProcess]) -> AsyncIterator[Load]:
    load = Load()
    # No retries: a request the SDK had to send twice would hide a failure from this count.
    clients = {
        name: AsyncOpenAI(base_url=f"{r.url}/v1", api_key="unused", max_retries=0, timeout=HTTP)
        for name, r in replicas.items()
    }
    runs = [asyncio.create_task(_steady(c, name, load)) for name, c in clients.items()]
    try:
        yield load
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        for client in clients.values():
            await client.close()


# ---------------------------------------------------------------- helpers


async def status_until(
    url: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float
) -> dict[str, Any]:
    return await asyncio.to_thread(wait_for_status, url, check, what, timeout)


async def until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout:g} s (a failure guard): {what}")
        await asyncio.sleep(0.1)


def recorder(st: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = st["recorder"]
    return rec


def has_leader(st: dict[str, Any]) -> bool:
    replicas = st["replicas"]
    return bool(
        replicas is not None
        and replicas["leader"] is not None
        and replicas["leader"]["id"] is not None
        and sum(r["leader"] for r in replicas["live"]) == 1
    )


# ---------------------------------------------------------------- the story


async def test_two_replicas_serve_through_a_postgresql_outage_and_recover_without_a_restart(
    tmp_path: Path,
) -> None:
    with (
        private_postgres() as pg,
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="green"))
        args = ["--config", "slipway.yaml", "--store", pg.url]
        with slipway_serve(tmp_path, args) as a, slipway_serve(tmp_path, args) as b:
            replicas = {"a": a, "b": b}
            for r in replicas.values():
                await status_until(
                    r.url,
                    lambda s: has_leader(s) and len(s["replicas"]["live"]) == 2,
                    "both replicas beating, one leader",
                    30,
                )
            async with steady_load(replicas) as load:
                await until(lambda: len(load.answers) >= 20, "the first answers", 30)
                written_before = {n: recorder(admin_status(r.url))["written"] for n, r in replicas.items()}
                assert all(w > 0 for w in written_before.values()), written_before

                await asyncio.to_thread(pg.stop_fast)
                down_at, down_wall = time.monotonic(), time.time()
                try:
                    # An admin write is refused, and says why.
                    out = await asyncio.to_thread(run_cli, a.url, ["rollback", "--reason", "during outage"])
                    said = out.stdout + out.stderr
                    assert out.returncode != 0, said
                    assert "could not" in said and "PostgreSQL" in said, said
                    assert "Check that the PostgreSQL server is running and reachable" in " ".join(
                        said.split()
                    ), said
                    refused = httpx.post(f"{b.url}/admin/rollback", json={}, timeout=HTTP)
                    assert refused.status_code == 503, refused.text
                    error = refused.json()["error"]
                    assert error["code"] == "store_error", error
                    assert "PostgreSQL" in error["message"] and "reachable" in error["hint"], error
                    # Reads still answer, and say the store is the trouble; records wait in memory.
                    for r in replicas.values():
                        st = await status_until(
                            r.url,
                            lambda s: recorder(s)["store_unavailable_since"] is not None,
                            "the recorder knows the store is unavailable",
                            OUTAGE_S + 20,
                        )
                        assert st["store_error"], st
                        assert st["route"]["active"] == "green"
                    await asyncio.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))
                finally:
                    await asyncio.to_thread(pg.start_again)
                up_at = time.time()

                # Back without a restart: records written again, a leader again.
                for name, r in replicas.items():

                    def writes_again(s: dict[str, Any], before: int = written_before[name]) -> bool:
                        rec = recorder(s)
                        unavailable = rec["store_unavailable_since"] is not None
                        return bool(rec["written"] > before and not unavailable and s["store_error"] is None)

                    await status_until(
                        r.url,
                        writes_again,
                        f"replica {name} writes records again",
                        60,
                    )
                    await status_until(r.url, has_leader, f"replica {name} sees one leader", 60)
                leaders = [
                    admin_status(r.url)["replicas"]["leader"]["this_replica"] for r in replicas.values()
                ]
                assert sorted(leaders) == [False, True], leaders

                # A rollback through either replica works, and both serve it.
                out = await asyncio.to_thread(run_cli, b.url, ["rollback", "--reason", "after outage"])
                assert out.returncode == 0, out.stdout + out.stderr
                rolled_at = time.time()
                version = admin_status(b.url)["route"]["version"]
                for r in replicas.values():
                    await status_until(
                        r.url,
                        lambda s: s["route"]["active"] == "blue" and s["route"]["version"] >= version,
                        "every replica on blue",
                        30,
                    )
                settled = time.time()
                await until(
                    lambda: (
                        all(load.served_since(settled).get(n) == {"blue"} for n in replicas)
                        and sum(1 for x in load.answers if x.sent_at >= settled) >= 10
                    ),
                    "both replicas answer from blue",
                    30,
                )
            assert rolled_at > up_at

            # Zero failed user requests, during and after.
            assert load.answers and not load.failed(), load.failed()[:5]
            during = [x for x in load.answers if down_wall <= x.sent_at < up_at]
            assert len(during) >= OUTAGE_S * RATE, len(during)  # the load went on through the outage

            # Every record counted: written rows are in the database, the rest counted as lost.
            finals = {}
            for name, r in replicas.items():
                finals[name] = recorder(
                    await status_until(
                        r.url, lambda s: recorder(s)["pending"] == 0, f"replica {name} wrote everything", 60
                    )
                )
            written = sum(f["written"] for f in finals.values())
            lost = sum(sum(f["lost"].values()) for f in finals.values())
            rows = await asyncio.to_thread(count_rows, pg, "requests")
            assert rows == written, (rows, finals)
            assert len(load.answers) - rows == lost, (len(load.answers), rows, finals)


# ---------------------------------------------------------------- a replica on a slow link to the store


@contextlib.contextmanager
def slow_link(port: int, delay_s: float) -> Iterator[int]:
    """A loopback TCP proxy to `port` that holds every chunk `delay_s` in each direction; yields its port."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    ports: list[int] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(delay_s)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ports.append(server.sockets[0].getsockname()[1])
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield ports[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        # The connections still piping, then the loop itself (its self-pipe is a socket pair).
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()

        async def drain() -> None:
            await asyncio.gather(*pending, return_exceptions=True)

        loop.run_until_complete(drain())
        loop.close()


def test_a_canary_deployed_through_a_follower_on_a_slow_store_link_answers_200(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
        fresh_schema(postgres_url) as store,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="blue"))
        url = make_url(store)
        assert url.port is not None
        with (
            slow_link(url.port, 0.05) as port,
            slipway_serve(tmp_path, ["--config", "slipway.yaml", "--store", store]) as leader,
        ):
            wait_for_status(leader.url, has_leader, "the first replica leads", 30)
            far = url.set(port=port).render_as_string(hide_password=False)
            with slipway_serve(tmp_path, ["--config", "slipway.yaml", "--store", far]) as follower:
                wait_for_status(follower.url, lambda s: len(s["replicas"]["live"]) == 2, "both beating", 30)
                assert admin_status(follower.url)["replicas"]["leader"]["this_replica"] is False
                body = {"version": "v2.2", "strategy": "canary", "slot": "green", "no_smoke": True}
                body |= {"steps": "10%:100h,100%", "interval": "15m"}
                answer = httpx.post(f"{follower.url}/admin/deploy", json=body, timeout=HTTP)
                canary = httpx.get(f"{leader.url}/admin/canary", timeout=HTTP).json()["canary"]
                # The canary did start, with its first split: only the answer is wrong.
                assert canary is not None and canary["status"] == "running", canary
                assert answer.status_code == 200, answer.text
