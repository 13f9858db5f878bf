"""What a drill needs from this process: an HTTP client for its requests, the live replicas, the leader.

The drill runner (`rollout/drill.py`) sees only ports; this module gives it
real ones. Its requests go to each replica's data plane exactly as a client's
would, so the switch time it measures is the one traffic sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping

import httpx

from slipway.app.replica import LIVE_WITHIN_S, Replica
from slipway.core.drill import DrillAnswer, DrillTarget
from slipway.core.errors import TransitionError
from slipway.core.fencing import leader_epoch
from slipway.core.lifecycle import DrillRecord
from slipway.core.ports import Notifier, SlotBackend
from slipway.rollout.controller import RouteController
from slipway.rollout.drill import DrillOrder, DrillRunner
from slipway.store.database import Store

log = logging.getLogger("slipway.drill")

#: A drill request that takes longer than this is a failed answer (the standby is not serving).
REQUEST_TIMEOUT_S = 5.0
#: How much of an error body a failed drill request keeps for the drill's reason.
ERROR_CHARS = 200


class HttpDrillTraffic:
    """One drill request to one replica's gateway: a one-token chat completion carrying the drill's token."""

    def __init__(self, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False)

    async def ask(self, target: DrillTarget, token: str, model: str) -> DrillAnswer:
        try:
            resp = await self._client.post(
                f"{target.url}/v1/chat/completions",
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": "slipway rollback drill"}],
                    "max_tokens": 1,
                },
                headers={"X-Slipway-Drill": token},
            )
        except httpx.HTTPError as exc:
            return DrillAnswer(0, None, False, f"{target.url} unreachable: {type(exc).__name__}: {exc}")
        pinned = resp.headers.get("x-slipway-drill") == "pinned"
        error = None if resp.status_code == 200 else f"HTTP {resp.status_code}: {resp.text[:ERROR_CHARS]}"
        return DrillAnswer(resp.status_code, resp.headers.get("x-slipway-slot"), pinned, error)

    async def close(self) -> None:
        await self._client.aclose()


class StoreDrillReplicas:
    """The live replicas from their heartbeats; this one's own route version from memory."""

    def __init__(self, store: Store, replica: Replica, local_version: Callable[[], int], url: str) -> None:
        self._store = store
        self._replica = replica
        self._local_version = local_version
        self._url = url

    async def targets(self) -> list[DrillTarget]:
        """Each live replica once per URL (`--workers` share one port: the kernel picks the worker)."""
        found = {self._url: DrillTarget(self._replica.id, self._url)}
        for beat in await self._store.live_replicas(time.time() - LIVE_WITHIN_S):
            if beat.url and beat.url not in found and beat.id != self._replica.id:
                found[beat.url] = DrillTarget(beat.id, beat.url)
        return list(found.values())

    async def route_versions(self) -> Mapping[str, int]:
        beats = await self._store.live_replicas(time.time() - LIVE_WITHIN_S)
        versions = {beat.id: beat.route_version for beat in beats if beat.id != self._replica.id}
        versions[self._replica.id] = self._local_version()
        return versions


class Drills:
    """Runs drills on the leader only, each in a task of its own under the leader's epoch.

    The task is not the admin request's: a client that hangs up does not
    cancel a drill halfway (its pin is cleared either way). Stopping slipway
    cancels a running drill, which clears its pin and records it as failed.
    """

    def __init__(
        self, runner: DrillRunner, replica: Replica, store: Store, traffic: HttpDrillTraffic, url: str
    ) -> None:
        self.runner = runner
        self._traffic = traffic
        #: The address this replica's heartbeat gives (shared by every worker of `serve --workers`).
        self._url = url
        self._replica = replica
        self._store = store
        self._tasks: set[asyncio.Task[DrillRecord]] = set()

    async def run(self, order: DrillOrder, actor: str) -> DrillRecord:
        epoch = self._replica.epoch
        if epoch is None:
            leader = await self._leader_url()
            # Under `serve --workers` the leader shares this port and cannot be asked alone: this worker
            # runs the drill, without an epoch, like any operator's command; its pin still allows only
            # one drill at a time across the store.
            if leader is None or leader != self._url:
                hint = (
                    f"send it to the leader: slipway drill --url {leader}"
                    if leader
                    else "no replica leads right now; try again in a few seconds (see slipway status)"
                )
                raise TransitionError("this replica does not lead, and drills run on the leader", hint=hint)

        async def fenced() -> DrillRecord:
            if epoch is not None:
                leader_epoch.set(epoch)  # every write of the drill is refused once another replica leads
            return await self.runner.run(order, actor=actor)

        task = asyncio.create_task(fenced(), name="slipway-drill")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Task[DrillRecord]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a drill ended with an error: %s", task.exception())

    async def _leader_url(self) -> str | None:
        beats = await self._store.live_replicas(time.time() - LIVE_WITHIN_S)
        return next((beat.url for beat in beats if beat.leader_epoch is not None and beat.url), None)

    async def list(self, limit: int) -> list[DrillRecord]:
        return await self._store.list_drills(limit)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._traffic.close()


def build_drills(
    *,
    routes: RouteController,
    store: Store,
    replica: Replica,
    backend: SlotBackend,
    unloaded: Callable[[], Awaitable[Collection[str]]],
    notifier: Notifier,
    own_url: str,
    beat_url: str,
    closing: contextlib.AsyncExitStack,
) -> Drills:
    """The drills of this replica, wired to its routes, store and heartbeat.

    Its HTTP client is closed by `closing` if the start fails after this;
    once started, `Drills.close` closes it. `own_url` is where this
    replica's own drill requests go, `beat_url` the address its heartbeat gives.
    """
    traffic = HttpDrillTraffic()
    closing.push_async_callback(traffic.close)
    runner = DrillRunner(
        routes=routes,
        traffic=traffic,
        replicas=StoreDrillReplicas(store, replica, lambda: routes.table.version, own_url),
        book=store,
        backend=backend,
        unloaded=unloaded,
        notifier=notifier,
    )
    return Drills(runner, replica, store, traffic, beat_url)
