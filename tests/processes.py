"""Real slipway processes for end-to-end tests: `slipway serve` and CLI calls as a user runs them.

`slipway_serve(workdir, args)` starts the installed `slipway` entry point in
`workdir` on a free loopback port, waits for /healthz, yields a handle, and
stops it with SIGTERM (SIGKILL if it hangs). `run_cli(url, args)` runs one CLI
command against it with SLIPWAY_URL set, like an operator's shell would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_S = 60.0


def slipway_bin() -> str:
    """The console script installed next to this interpreter (what `pip install` gives a user)."""
    candidate = Path(sys.executable).with_name("slipway")
    found = str(candidate) if candidate.exists() else shutil.which("slipway")
    if found is None:
        raise RuntimeError("the `slipway` entry point is not installed; run scripts/bootstrap dev")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServeProcess:
    url: str
    proc: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    env.update(extra or {})
    return env


@contextlib.contextmanager
def slipway_serve(
    workdir: Path, args: Sequence[str], *, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[ServeProcess]:
    """`port`: the one a previous serve used, for a restart that must look like the same gateway."""
    port = port or free_port()
    log_path = workdir / f"serve-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [slipway_bin(), "serve", "--port", str(port), *args],
            cwd=workdir,
            env=_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    handle = ServeProcess(url=f"http://127.0.0.1:{port}", proc=proc, log_path=log_path)
    try:
        wait_healthy(f"{handle.url}/healthz", proc, START_TIMEOUT_S, "slipway serve", handle.log)
        yield handle
    finally:
        stop(proc)


def wait_healthy(
    url: str, proc: subprocess.Popen[Any], timeout: float, what: str, output: Callable[[], str]
) -> None:
    """Poll `url` until it answers 200; a process that exits or stays silent fails with its output."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{output()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} silent after {timeout:g} s:\n{output()}")
        time.sleep(0.02)


def stop(proc: subprocess.Popen[str], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run_cli(
    url: str | None,
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    extra = dict(env or {})
    if url is not None:
        extra["SLIPWAY_URL"] = url
    return subprocess.run(
        [slipway_bin(), *args],
        cwd=cwd,
        env=_env(extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def admin_status(url: str, timeout: float = 60.0) -> dict[str, Any]:
    """`GET /admin/status` of a gateway (no token), which must answer 200."""
    resp = httpx.get(f"{url}/admin/status", timeout=timeout)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def wait_for_status(
    url: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60.0
) -> dict[str, Any]:
    """Poll the gateway's status until `check` holds; `timeout` is a failure guard, not a measure."""
    deadline = time.monotonic() + timeout
    while True:
        st = admin_status(url, timeout)
        if check(st):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout:g} s: {what}; last status: {st}")
        time.sleep(0.05)
