"""Shared pieces of the gateway benchmarks: processes, nginx, wrk, a lean HTTP client, statistics.

Everything runs on 127.0.0.1. Every subprocess is started in its own session
(process group) and stopped by the `Processes` context manager, also on
Ctrl-C or SIGTERM, so a run never leaves nginx or a gateway behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httptools
import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
SLIPWAY = str(Path(PYTHON).with_name("slipway"))
HOST = "127.0.0.1"

T = TypeVar("T")

#: What the zero-cost backend answers: a realistic non-streaming chat completion.
ZERO_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "billing"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    },
    separators=(",", ":"),
)

#: What every load generator sends: a small chat completion request.
REQUEST_BODY = json.dumps(
    {
        "model": "bench",
        "messages": [{"role": "user", "content": "Where is the refund for invoice 4411?"}],
        "max_tokens": 8,
    },
    separators=(",", ":"),
)
STREAM_BODY = json.dumps(
    {
        "model": "bench",
        "stream": True,
        "messages": [{"role": "user", "content": "Where is the refund for invoice 4411?"}],
    },
    separators=(",", ":"),
)


# ---------------------------------------------------------------- machine


def _tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = {}
    for name in ("uvicorn", "uvloop", "httptools", "aiohttp", "httpx", "granian", "orjson"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "virtualization": _virtualization(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "nginx": _tool_version(["nginx", "-v"]),
        "wrk": _tool_version(["wrk", "--version"]).split(" Copyright")[0],
        "packages": packages,
    }


def _virtualization() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"Hypervisor vendor:\s*(\S+)", out)
    return f"VM ({match.group(1)})" if match else "none reported"


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Processes:
    """Starts subprocesses in their own process group and stops all of them on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for name, proc in reversed(self._procs):
            self._stop(name, proc)
        self._procs.clear()

    def start(
        self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd or self.workdir,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        log.close()
        self._procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        for i, (name, p) in enumerate(self._procs):
            if p is proc:
                del self._procs[i]
                self._stop(name, p)
                return

    @staticmethod
    def _stop(name: str, proc: subprocess.Popen[bytes]) -> None:
        # The process leads its own group (start_new_session): signal the group it made, nothing else.
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_http(
    url: str, proc: subprocess.Popen[bytes], procs: Processes, name: str, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{procs.log_tail(name)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not answer {url} within {timeout:g} s:\n{procs.log_tail(name)}")


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every `with Processes(...)` block stops its children."""

    def _raise(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)


@contextlib.contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- nginx


@dataclass
class Nginx:
    zero: int
    zero2: int
    proxy: int
    sse_proxy: int
    sse_backend: int

    def url(self, port: int) -> str:
        return f"http://{HOST}:{port}"


def start_nginx(procs: Processes, *, sse_backend: int = 0) -> Nginx:
    """Debian's nginx in a private prefix: zero-cost backends, a reverse proxy in front of them."""
    ports = Nginx(free_port(), free_port(), free_port(), free_port(), sse_backend or free_port())
    prefix = procs.workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").chmod(0o777)
    values = {
        "PREFIX": str(prefix),
        "ZERO_PORT": str(ports.zero),
        "ZERO2_PORT": str(ports.zero2),
        "PROXY_PORT": str(ports.proxy),
        "SSE_PROXY_PORT": str(ports.sse_proxy),
        "SSE_BACKEND_PORT": str(ports.sse_backend),
        "BODY": ZERO_BODY,
    }
    text = (BENCH_DIR / "nginx.conf.template").read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if "@" in re.sub(r"#.*", "", text):
        raise ValueError("nginx.conf.template has a placeholder this script does not fill")
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = procs.start("nginx", [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")])
    wait_http(ports.url(ports.zero), proc, procs, "nginx")
    return ports


# ---------------------------------------------------------------- slipway


def slipway_config(slots: dict[str, str], *, active: str, weights: dict[str, int] | None = None) -> str:
    lines = ["name: bench", f"active_slot: {active}", "slots:"]
    for name, endpoint in slots.items():
        lines.append(f'  {name}: {{model: bench-{name}, endpoint: "{endpoint}", kind: openai}}')
    if weights:
        lines.append("weights: {" + ", ".join(f"{k}: {v}" for k, v in weights.items()) + "}")
    return "\n".join(lines) + "\n"


@dataclass
class Gateway:
    name: str
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    #: The process that serves requests (granian forks a worker; uvicorn serves in place).
    server_pid: int


def start_slipway(
    procs: Processes,
    name: str,
    config_text: str,
    *,
    server: str = "uvicorn",
    extra: Sequence[str] = (),
) -> Gateway:
    """`slipway serve` as a real subprocess (uvicorn + uvloop + httptools), or the same app under granian."""
    home = procs.workdir / name
    home.mkdir(parents=True, exist_ok=True)
    config = home / "slipway.yaml"
    config.write_text(config_text)
    store = f"sqlite:///{home / 'state.db'}"
    port = free_port()
    if server == "uvicorn":
        argv = [SLIPWAY, "serve", "--config", str(config), "--port", str(port), "--store", store]
        argv += ["--no-watch", "--log-level", "warning", *extra]
        proc = procs.start(name, argv, cwd=home)
    elif server == "granian":
        argv = [str(Path(PYTHON).with_name("granian")), "--interface", "asgi", "--factory"]
        argv += ["--loop", "uvloop", "--http", "1", "--no-ws", "--workers", "1", "--runtime-threads", "1"]
        argv += ["--log-level", "warning", "--no-access-log", "--host", HOST, "--port", str(port)]
        argv += ["--working-dir", str(BENCH_DIR), "asgi_targets:slipway_app"]
        env = {"SLIPWAY_BENCH_CONFIG": str(config), "SLIPWAY_BENCH_STORE": store}
        proc = procs.start(name, argv, cwd=home, env=env)
    else:
        raise ValueError(f"unknown server {server!r}")
    url = f"http://{HOST}:{port}"
    wait_http(url + "/healthz", proc, procs, name)
    return Gateway(name, url, port, proc, serving_pid(proc.pid, port))


def serving_pid(root: int, port: int) -> int:
    """The pid in `root`'s process tree that listens on `port`; `root` if none is found."""
    try:
        tree = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.Error:
        return root
    for proc in reversed(tree):
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return proc.pid
    return root


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def check_chat(url: str) -> dict[str, str]:
    """One request through `url`; returns its response headers (fails loudly on anything but 200)."""
    req = urllib.request.Request(
        url + "/v1/chat/completions",
        data=REQUEST_BODY.encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
        assert resp.status == 200 and body["choices"], body
        return {k.lower(): v for k, v in resp.headers.items()}


# ---------------------------------------------------------------- other load on the machine


def machine_busy() -> tuple[float, float]:
    """CPU seconds all cores have spent in processes (user, nice, system) and stolen by the hypervisor.

    Interrupt and softirq time (the kernel's loopback TCP work) is left out:
    it belongs to no process, so it would otherwise look like someone else's load.
    """
    times = psutil.cpu_times()
    in_processes = times.user + getattr(times, "nice", 0.0) + times.system
    return float(in_processes), float(getattr(times, "steal", 0.0))


def own_cpu() -> float:
    """CPU seconds used by this process and everything it started (live or reaped)."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        me = psutil.Process()
        times = me.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                total += times.user + times.system
    return total


class Meter:
    """Measures one run's wall time and how busy the machine was with work that is not ours."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self._busy0, self._steal0 = machine_busy()
        self._own0 = own_cpu()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        busy, steal = machine_busy()
        busy -= self._busy0
        own = own_cpu() - self._own0
        return {
            "machine_cpu_pct": busy / wall * 100,
            "background_cpu_pct": max(0.0, busy - own) / wall * 100,
            "steal_pct": (steal - self._steal0) / wall * 100,
        }


def wait_quiet(threshold_pct: float = 20.0, max_wait_s: float = 60.0) -> float:
    """Wait (at most `max_wait_s`) until other processes use < `threshold_pct` % of one core.

    The machines this runs on are small and shared; a test suite running next
    to a benchmark moves its tail latency by milliseconds. Returns the last
    background load seen, which the results record.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        meter = Meter()
        time.sleep(0.5)
        background = meter.stop()["background_cpu_pct"]
        if background < threshold_pct or time.monotonic() > deadline:
            return background


# ---------------------------------------------------------------- wrk

WRK_LUA = textwrap.dedent(
    """\
    wrk.method = "POST"
    wrk.body = @BODY@
    wrk.headers["Content-Type"] = "application/json"
    done = function(summary, latency, requests)
      local e = summary.errors
      io.write(string.format(
        'WRKJSON {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,' ..
        '"status":%.0f,"timeout":%.0f,"mean_us":%.1f,"max_us":%.0f,' ..
        '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"p999_us":%.0f}\\n',
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9)))
    end
    """
)


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    workdir: Path,
    body: str = REQUEST_BODY,
    quiet_wait_s: float = 60.0,
) -> dict[str, Any]:
    """POST the chat request (or `body`) in a closed loop; latency percentiles in ms and requests/s.

    Waits up to `quiet_wait_s` for other processes to quiet down first (`wait_quiet`).
    """
    name = "post.lua" if body == REQUEST_BODY else f"post-{len(body)}.lua"
    script = workdir / name
    if not script.exists():
        script.write_text(WRK_LUA.replace("@BODY@", json.dumps(body)))
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    argv += ["-s", str(script), url + "/v1/chat/completions"]
    quiet = wait_quiet(max_wait_s=quiet_wait_s)
    meter = Meter()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    load = meter.stop()
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds_run = raw["duration_us"] / 1e6
    errors = sum(int(raw[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "requests": int(raw["requests"]),
        "rps": raw["requests"] / seconds_run,
        "errors": errors,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "p999_ms": raw["p999_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "background_before_pct": quiet,
        **load,
    }


# ---------------------------------------------------------------- a lean HTTP/1.1 client


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    sent_at: float
    first_body_at: float | None
    done_at: float


class HttpConn(asyncio.Protocol):
    """One keep-alive connection, one request at a time, parsed by httptools (llhttp, in C).

    Far cheaper per chunk than a general client, so on a 2-core machine the load
    generator takes as little CPU as possible from the servers it measures.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._future: asyncio.Future[Response] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._parts: list[bytes] = []
        self._sent_at = 0.0
        self._first: float | None = None
        self._status = 0
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConn:
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(cls, host, port)
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._future is not None and not self._future.done():
            self._future.set_exception(ConnectionError(f"connection closed: {exc}"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._future is not None and not self._future.done():
                self._future.set_exception(exc)
            assert self.transport is not None
            self.transport.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if self._first is None:
            self._first = time.perf_counter()
        self._parts.append(body)

    def on_message_complete(self) -> None:
        future, self._future = self._future, None
        if future is not None and not future.done():
            future.set_result(
                Response(
                    self._status,
                    self._headers,
                    b"".join(self._parts),
                    self._sent_at,
                    self._first,
                    time.perf_counter(),
                )
            )

    def request(self, raw: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None and self._future is None
        self._future = asyncio.get_running_loop().create_future()
        self._headers, self._parts, self._first = {}, [], None
        self._sent_at = time.perf_counter()
        self.transport.write(raw)
        return self._future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def http_request(
    method: str, port: int, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------- statistics


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def median(values: Sequence[float]) -> float:
    return pct(values, 50)


@dataclass
class RssSampler:
    """Samples one process's resident set size every `interval` seconds from an asyncio task."""

    pid: int
    interval: float = 0.05
    samples: list[tuple[float, int]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        proc = psutil.Process(self.pid)
        while True:
            self.samples.append((time.perf_counter(), proc.memory_info().rss))
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def mib(n: float) -> float:
    return round(n / 2**20, 1)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import uvloop

    return uvloop.run(coro)


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
