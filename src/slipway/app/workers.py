"""`slipway serve --workers N`: N gateway processes on one port, so one host uses all its cores.

Each worker is a whole replica (its own runtime, heartbeat and campaign for
leadership), exactly like a `slipway serve` started by hand on the same
store: the workers follow each other's route changes through the store and
one of them, the leader, runs the control loops. The parent process only
supervises; it serves nothing.

One socket, bound by the parent, shared by inheritance
------------------------------------------------------
The parent binds host:port once, as a plain socket (no SO_REUSEPORT), and
every worker serves on that same socket, inherited as a file descriptor
(uvicorn's multiprocess mode does the same). The alternative, each worker
binding the port itself with SO_REUSEPORT, was rejected:

* SO_REUSEPORT lets any process of the same user join the port silently: a
  second slipway installation (or anything else) started on the port by
  mistake would get a share of production's connections instead of the
  clear "port in use" refusal a single serve gives. A plain bound socket
  keeps that refusal, and it comes before anything touches the store.
* With SO_REUSEPORT each worker owns a listen queue; connections waiting in
  a worker's queue are reset when that worker dies. With one shared socket
  the queue belongs to the parent's socket: a crashed or restarting worker
  loses only the connections it had accepted, and while no worker runs the
  kernel keeps queueing new ones for the next to accept.

The price: the kernel does not hash connections across the workers as it
does for SO_REUSEPORT; every idle worker is woken and the first to accept
wins. Under load this balances by itself (a busy worker is slower to come
back to accept), but a few connections in a quiet moment may all land on one
worker.

Start, stop, restarts
---------------------
Workers are child processes re-running the CLI (`slipway serve ... --worker-of
PID:N:LISTENER_FD:READY_FD`, a hidden option). Worker 1 starts alone and the
others only once it serves: a bad config or an unreachable store then fails
once, with worker 1's own message, instead of N times; it also applies a
config file to an empty store before anyone else could race it. A worker
says it serves by writing to a pipe the parent reads.

SIGTERM or SIGINT to the parent is forwarded to every worker (each in its own
process group, so a terminal's Ctrl-C reaches them once, through the
parent); the parent waits for them all and exits 0 only if every one stopped
cleanly. A worker that dies otherwise is restarted with the same number and
the death is logged; more than `MAX_RESTARTS` deaths within
`RESTART_WINDOW_S` is a crash loop: everything is stopped and the parent
exits non-zero saying so. A worker whose parent died (SIGKILL) stops by itself.

Engines
-------
A config that runs engines (llama-server processes slipway starts itself)
is refused with more than one worker: every worker would start its own copy
of every engine (GPU memory, fixed ports, N model loads). The check reads the
config file and, after the port is bound, the store (the last applied config
and the engines deploys started), which is what a worker would start; a
worker also refuses a file that gained engines before it was started again.

SQLite works for workers on one host: leadership is a `flock` on the lock
file beside the database and route changes arrive by polling (--route-poll).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slipway.app.config_file import CONFIG_TEXT_META_KEY, read_config_file
from slipway.app.engines import DEPLOYED_ENGINES_META_KEY, specs_from_json
from slipway.app.serve import bind_listener
from slipway.app.settings import ServeSettings
from slipway.core.config import RoutingConfig, parse_config
from slipway.core.errors import ConfigError
from slipway.core.lora import ENGINE_SCHEME
from slipway.store.database import open_store

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("slipway.workers")

#: More deaths than this within RESTART_WINDOW_S seconds is a crash loop: the parent gives up.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
#: How often the parent looks at its workers, and a worker at its parent (seconds).
POLL_S = 0.1
PARENT_CHECK_S = 1.0


def log_format(worker: int | None) -> str:
    """Log lines of worker N are tagged [wN], the parent's [main]; the rest is the usual format."""
    tag = f"w{worker}" if worker is not None else "main"
    return f"%(asctime)s %(levelname)s [{tag}] %(name)s: %(message)s"


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process is told by its parent (the hidden --worker-of option)."""

    parent_pid: int
    number: int
    listener_fd: int
    ready_fd: int

    def to_arg(self) -> str:
        return f"{self.parent_pid}:{self.number}:{self.listener_fd}:{self.ready_fd}"

    @classmethod
    def parse(cls, text: str) -> WorkerSpec:
        try:
            parent, number, listener, ready = (int(part) for part in text.split(":"))
        except ValueError:
            raise ConfigError(
                f"--worker-of {text!r}: expected PID:NUMBER:LISTENER_FD:READY_FD",
                hint="--worker-of is internal: slipway serve --workers N passes it to its workers",
            ) from None
        return cls(parent, number, listener, ready)

    def listener(self) -> socket.socket:
        """The socket the parent bound, inherited as a file descriptor."""
        try:
            return socket.socket(fileno=self.listener_fd)
        except OSError as exc:
            raise ConfigError(
                f"worker {self.number}: no listening socket on file descriptor {self.listener_fd}: {exc}",
                hint="--worker-of is internal: start slipway serve --workers N instead",
            ) from None

    def refuse_engines(self, config: RoutingConfig | None) -> None:
        """The parent checked at start; a worker started again after the file gained engines checks too."""
        if config is not None and config.engines:
            raise engines_refused(config.engines, f"worker {self.number}")

    async def announce_when_serving(self, server: uvicorn.Server) -> None:
        """Tell the parent this worker serves, once uvicorn accepts on the socket."""
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.02)
        with contextlib.suppress(OSError):
            os.write(self.ready_fd, b"1")
        with contextlib.suppress(OSError):
            os.close(self.ready_fd)

    async def stop_when_orphaned(self, server: uvicorn.Server) -> None:
        """A parent killed with SIGKILL forwards nothing: stop cleanly once it is gone."""
        while os.getppid() == self.parent_pid:
            await asyncio.sleep(PARENT_CHECK_S)
        log.warning("the parent process %d is gone: this worker stops", self.parent_pid)
        server.should_exit = True


# -- the parent --------------------------------------------------------------------------


def refuse_engines(settings: ServeSettings, workers: int) -> None:
    """A ConfigError if the workers would each start engines (read: the file, then the store)."""
    names = asyncio.run(_engines_to_start(settings))
    if names:
        raise engines_refused(names, f"--workers {workers}")


def engines_refused(names: Collection[str], where: str) -> ConfigError:
    return ConfigError(
        f"{where}: this configuration runs engines (llama-server processes slipway starts "
        f"itself: {', '.join(sorted(names))}), and every worker would start its own copy of each",
        hint="run the engines separately (llama-server on ports of their own) and point the slots' "
        "endpoint at them, or serve with --workers 1",
    )


async def _engines_to_start(settings: ServeSettings) -> set[str]:
    """The engines a worker's runtime would start: the config's, and the ones deploys started."""
    config: RoutingConfig | None = None
    if settings.config_path is not None:
        with contextlib.suppress(ConfigError):  # a bad file is the worker's to report
            config = read_config_file(settings.config_path).routing
    names: set[str] = set(config.engines) if config is not None else set()
    if names:
        return names  # refused without touching the store
    store = await open_store(settings.resolved_store_url())
    try:
        if config is None:
            stored = await store.get_meta(CONFIG_TEXT_META_KEY)
            if stored:
                with contextlib.suppress(ConfigError):
                    names |= set(parse_config(stored, "the last applied config (kept in the store)").engines)
        deployed = await store.get_meta(DEPLOYED_ENGINES_META_KEY)
        if deployed:
            table = await store.load_routes()
            routed = {slot.endpoint for slot in table.slots.values()} if table is not None else set()
            names |= {name for name in specs_from_json(deployed) if ENGINE_SCHEME + name in routed}
    finally:
        await store.close()
    return names


@dataclass
class _Worker:
    number: int
    proc: subprocess.Popen[bytes]
    ready_fd: int | None
    serving: bool = False
    #: Started again after a death (its first words are logged).
    restarted: bool = False
    #: The stop signals already forwarded to this worker (a second one is forwarded too).
    signalled: int = 0


@dataclass
class Supervisor:
    """Starts the workers on `listener`, forwards stop signals, restarts the ones that die.

    `command(spec)` is the argv of one worker process.
    """

    listener: socket.socket
    count: int
    command: Callable[[WorkerSpec], Sequence[str]]
    max_restarts: int = MAX_RESTARTS
    restart_window_s: float = RESTART_WINDOW_S
    _workers: dict[int, _Worker] = field(default_factory=dict)
    _signals: list[int] = field(default_factory=list)
    _deaths: collections.deque[float] = field(default_factory=collections.deque)
    _failure: str | None = None
    #: The parent's exit status after a failure (2: a first start failed, as a single serve's would).
    _failure_code: int = 1

    def run(self) -> int:
        """Serve until a stop signal (0: every worker stopped cleanly) or a failure (1 or 2, logged)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if self._first_start():
                self._supervise()
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for worker in self._workers.values():
                self._close_ready(worker)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)

    @property
    def _stopping(self) -> bool:
        return bool(self._signals) or self._failure is not None

    def _spawn(self, number: int) -> _Worker:
        ready_r, ready_w = os.pipe()
        spec = WorkerSpec(os.getpid(), number, self.listener.fileno(), ready_w)
        try:
            proc = subprocess.Popen(
                list(self.command(spec)),
                pass_fds=(self.listener.fileno(), ready_w),
                # Its own process group: a terminal's Ctrl-C reaches the parent only, which forwards
                # it once (a second SIGINT would make uvicorn drop the connections it is finishing).
                process_group=0,
            )
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
        os.set_blocking(ready_r, False)
        worker = _Worker(number, proc, ready_r)
        self._workers[number] = worker
        log.info("worker %d started (pid %d)", number, proc.pid)
        return worker

    def _first_start(self) -> bool:
        """Worker 1 alone until it serves, then the others; False if one failed (or a signal came)."""
        self._spawn(1)
        if not self._wait_serving([1]):
            return False
        for number in range(2, self.count + 1):
            self._spawn(number)
        return self._wait_serving(list(range(2, self.count + 1)))

    def _wait_serving(self, numbers: list[int]) -> bool:
        waiting = set(numbers)
        while waiting:
            if self._stopping:
                return False
            self._read_ready(waiting)
            for number in sorted(waiting):
                worker = self._workers[number]
                if worker.serving:
                    waiting.discard(number)
                elif worker.proc.poll() is not None:
                    self._failure_code = 2
                    self._failure = (
                        f"worker {number} of {self.count} did not start ({describe_exit(worker.proc)}; "
                        "its message is above)"
                        + ("; no other worker was started" if number == 1 else "; stopping the others")
                    )
                    return False
        log.info("%s serving", "worker 1 is" if numbers == [1] else f"workers 1-{self.count} are")
        return True

    def _read_ready(self, numbers: set[int]) -> None:
        """Wait up to POLL_S for any of these workers to say it serves (or for its pipe to close)."""
        fds = {
            w.ready_fd: w for n in numbers if (w := self._workers[n]).ready_fd is not None and not w.serving
        }
        if not fds:
            time.sleep(POLL_S)
            return
        readable, _, _ = select.select(list(fds), [], [], POLL_S)
        for fd in readable:
            worker = fds[fd]
            try:
                data = os.read(fd, 16)
            except BlockingIOError:
                continue
            if data:
                worker.serving = True
                if worker.restarted:
                    log.info("worker %d (pid %d) serves again", worker.number, worker.proc.pid)
            self._close_ready(worker)

    def _supervise(self) -> None:
        while not self._stopping:
            self._read_ready(set(self._workers))
            for number, worker in list(self._workers.items()):
                if self._stopping or worker.proc.poll() is None:
                    continue
                self._close_ready(worker)
                now = time.monotonic()
                self._deaths.append(now)
                while self._deaths and self._deaths[0] < now - self.restart_window_s:
                    self._deaths.popleft()
                if len(self._deaths) > self.max_restarts:
                    self._failure = (
                        f"worker {number} {describe_exit(worker.proc)}: more than {self.max_restarts} "
                        f"workers died within {self.restart_window_s:g} s; giving up and stopping the others"
                        " (each worker's own messages are above)"
                    )
                    return
                log.warning(
                    "worker %d (pid %d) %s unexpectedly; starting it again",
                    number,
                    worker.proc.pid,
                    describe_exit(worker.proc),
                )
                self._spawn(number).restarted = True

    def _stop_all(self) -> int:
        """Forward the stop (SIGTERM after a failure) and wait for every worker; the exit status."""
        if self._failure is not None:
            log.error("%s", self._failure)
        elif self._signals:
            log.info("stopping %d workers (signal %d)", len(self._live()), self._signals[0])
        while live := self._live():
            wanted = len(self._signals) or 1
            sig = self._signals[-1] if self._signals else signal.SIGTERM
            for worker in live:
                if worker.signalled < wanted:
                    worker.signalled = wanted
                    with contextlib.suppress(ProcessLookupError):
                        worker.proc.send_signal(sig)
            time.sleep(POLL_S)
        if self._failure is not None:
            return self._failure_code
        unclean = [
            f"worker {w.number} {describe_exit(w.proc)}" for w in self._workers.values() if w.proc.returncode
        ]
        if unclean:
            log.error("not every worker stopped cleanly: %s", "; ".join(unclean))
            return 1
        log.info("all workers stopped cleanly")
        return 0

    def _live(self) -> list[_Worker]:
        return [w for w in self._workers.values() if w.proc.poll() is None]

    @staticmethod
    def _close_ready(worker: _Worker) -> None:
        if worker.ready_fd is not None:
            with contextlib.suppress(OSError):
                os.close(worker.ready_fd)
            worker.ready_fd = None


def describe_exit(proc: subprocess.Popen[bytes]) -> str:
    code = proc.returncode
    if code is None:
        return "is running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with status {code}"


def serve_workers(
    settings: ServeSettings, workers: int, command: Callable[[WorkerSpec], Sequence[str]]
) -> int:
    """Bind the port, refuse engines, run the workers until stopped; the exit status.

    Start-up refusals (port taken, engines) raise ConfigError, with nothing started.
    """
    listener = bind_listener(settings.host, settings.port)
    try:
        refuse_engines(settings, workers)
        return Supervisor(listener, workers, command).run()
    finally:
        listener.close()
