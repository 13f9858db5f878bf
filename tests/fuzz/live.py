"""A real `slipway serve` in front of two healthy sim backends, and the invariants every input must keep.

The backends never fail (accuracy 1, no error modes), so any 5xx the gateway
gives is slipway's own and a finding. After each input the site checks:

- the answer is not a 5xx;
- the process still runs and answers `/healthz`;
- an answer that carries `X-Slipway-Request-Id` has a record
  (`GET /admin/requests/{id}`), or the recorder counts it as lost in
  `GET /admin/status`;
- the server logged no traceback (an exception nothing handled).
"""

from __future__ import annotations

import contextlib
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypothesis import event
from hypothesis.control import currently_in_test_context
from tests.fuzz.wire import Reply
from tests.harness import sim_backend, sim_profile
from tests.processes import ServeProcess, slipway_serve

TOKEN = "fuzz-token-5d0c8e2a9b71f4e3"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Backends:
    blue: str
    green: str
    #: Streams 40 tokens 5 ms apart: long enough for a client to leave in the middle.
    slow: str


def site_config(backends: Backends, extra: str = "") -> str:
    """Blue and green take traffic (50/50), so sticky keys and the weighted pick are exercised too;
    `slow` takes only requests pinned to it with X-Slipway-Slot."""
    return textwrap.dedent(
        f"""\
        name: customer-support
        active_slot: blue
        slots:
          blue: {{model: customer-support-v2.1, endpoint: "{backends.blue}", kind: sim}}
          green: {{model: customer-support-v2.2, endpoint: "{backends.green}", kind: sim}}
          slow: {{model: customer-support-v2.2, endpoint: "{backends.slow}", kind: sim}}
        weights: {{blue: 50, green: 50}}
        """
    ) + textwrap.dedent(extra)


@contextlib.contextmanager
def healthy_backends() -> Iterator[Backends]:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1", output_tokens=3)) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2", output_tokens=3), seed=1) as green,
        sim_backend(sim_profile("cs-v2.2", "v2.2", output_tokens=40, stream_interval_ms=5), seed=2) as slow,
    ):
        yield Backends(blue, green, slow)


class Finding(AssertionError):
    """An invariant broke; the message carries the answer and what the server logged."""


@dataclass
class Site:
    proc: ServeProcess
    backends: Backends
    workdir: Path
    token: str | None = TOKEN
    http: httpx.Client = field(init=False)
    _log_offset: int = 0
    #: Records the recorder counted as lost, as last seen; losses since then may excuse a missing record.
    _lost_seen: int = 0
    checked: int = 0

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.proc.url, timeout=30.0)
        self._lost_seen = self.lost()
        self.new_log()

    @property
    def blue(self) -> str:
        return self.backends.blue

    @property
    def green(self) -> str:
        return self.backends.green

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def admin(self, path: str, **params: Any) -> Any:
        """An admin read the legitimate way (the CLI's way): token, own host, no origin."""
        resp = self.http.get(path, params=params, headers=self.auth())
        if resp.status_code != 200:
            raise Finding(f"GET {path} (a legitimate admin read) -> {resp.status_code}: {resp.text[:500]}")
        return resp.json()

    def lost(self) -> int:
        recorder = self.admin("/admin/status")["recorder"]
        lost = recorder.get("lost")
        if isinstance(lost, dict):
            return sum(int(n) for n in lost.values())
        return int(recorder.get("dropped", 0)) + int(recorder.get("lost_in_failed_writes", 0))

    def new_log(self) -> str:
        text = self.proc.log()
        new, self._log_offset = text[self._log_offset :], len(text)
        return new

    def route(self) -> tuple[int, str, int]:
        """(route version, active slot, changes in the history), as an operator reads them."""
        route = self.admin("/admin/status")["route"]
        changes = len(self.admin("/admin/history", limit=10_000)["changes"])
        return route["version"], route["active"], changes

    # -- the invariants ----------------------------------------------------------------

    def alive(self, after: str = "") -> None:
        if self.proc.proc.poll() is not None:
            raise Finding(
                f"slipway exited with {self.proc.proc.returncode} {after}\n{self.new_log()[-4000:]}"
            )
        try:
            health = self.http.get("/healthz", timeout=10.0)
        except httpx.TransportError as exc:
            raise Finding(f"/healthz failed {after}: {exc!r}\n{self.new_log()[-4000:]}") from exc
        if health.status_code != 200:
            raise Finding(f"/healthz -> {health.status_code} {after}")

    def check(self, status: int, headers: dict[str, str] | httpx.Headers, body: str, what: str) -> None:
        """All invariants, after one request described by `what` was answered with `status`."""
        self.checked += 1
        if currently_in_test_context():
            event(f"status {status}")
        if status >= 500:
            time.sleep(0.3)  # the server logs a traceback just after it answers
            raise Finding(f"{what} -> {status}: {body}\nserver log:\n{self.new_log()[-4000:]}")
        if headers.get("x-slipway-drill"):
            # No client knows a drill's token: a guess must be routed, and recorded, like any request.
            raise Finding(f"{what} -> {status} was routed by a drill pin it cannot know the token of")
        request_id = headers.get("x-slipway-request-id")
        if request_id:
            self.check_recorded([request_id], what)
        self.alive(f"after {what}")
        logged = self.new_log()
        if "Traceback" in logged:
            raise Finding(f"{what} -> {status} left a traceback in the server log:\n{logged[-4000:]}")

    def check_reply(self, reply: Reply, what: str) -> None:
        if reply.status == 0:
            raise Finding(f"{what}: the connection closed without an answer\n{self.new_log()[-4000:]}")
        self.check(reply.status, reply.headers, reply.text(), what)

    def check_response(self, resp: httpx.Response, what: str) -> None:
        self.check(resp.status_code, resp.headers, resp.text[:600], what)

    def check_recorded(self, request_ids: list[str], what: str, wait_s: float = 0.0) -> None:
        """Each id has a record, or the recorder counts as many lost since the last check.

        `wait_s`: how long a request may still be finishing (a stream whose
        client left is recorded once the gateway notices); reads poll until then.
        """
        missing = []
        for request_id in request_ids:
            deadline = time.monotonic() + wait_s
            while True:
                resp = self.http.get(f"/admin/requests/{request_id}", headers=self.auth())
                if resp.status_code != 404 or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            if resp.status_code == 404:
                missing.append(request_id)
            elif resp.status_code != 200:
                raise Finding(
                    f"GET /admin/requests/{request_id} after {what} -> {resp.status_code}: {resp.text[:500]}"
                )
        if not missing:
            return
        lost = self.lost()
        if lost - self._lost_seen < len(missing):
            raise Finding(
                f"{what}: answered with request id(s) {missing}, which have no record, and the recorder "
                f"counts {lost - self._lost_seen} lost since the last check\n{self.new_log()[-4000:]}"
            )
        self._lost_seen = lost


@contextlib.contextmanager
def served(
    workdir: Path,
    backends: Backends,
    *,
    token: str | None = TOKEN,
    store: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Site]:
    """`slipway serve` on the site's config; `store`: a database URL (default: SQLite in `workdir`)."""
    (workdir / "slipway.yaml").write_text(site_config(backends))
    env = {**(env or {}), **({"SLIPWAY_ADMIN_TOKEN": token} if token else {})}
    args = ["--config", "slipway.yaml", "--no-watch", *(["--store", store] if store else [])]
    with slipway_serve(workdir, args, env=env) as proc:
        site = Site(proc, backends, workdir, token)
        try:
            yield site
        finally:
            site.http.close()
