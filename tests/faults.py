"""Backends that fail for real, and readers of what slipway recorded about it.

Companions to `tests/harness.py` for failure tests: a port that refuses
connections, `slipway sim serve` as a child process a test can SIGKILL in the
middle of an answer, sim profiles that fail on every request, and
`GET /admin/requests/{id}`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.harness import Gateway
from tests.processes import wait_healthy

LABELS = ["billing", "account", "shipping", "technical"]


def profile_yaml(model: str = "cs-v2.1", version: str = "v2.1", **default: Any) -> str:
    """A sim profile whose `default` section is `default` (labels and a refund keyword preset)."""
    profile = {
        "model": model,
        "version": version,
        "default": {"labels": LABELS, **default},
        "categories": {"billing": {"keywords": ["refund", "invoice"]}},
    }
    return yaml.safe_dump(profile, sort_keys=False)


def single_slot_yaml(url: str, *, connect_s: float | None = None, read_s: float | None = None) -> str:
    """Routing config with one `blue` slot on `url`, with optional connect/read timeouts (seconds)."""
    slot: dict[str, Any] = {"model": "customer-support-v2.1", "endpoint": url, "kind": "sim"}
    timeouts = {k: v for k, v in (("connect", connect_s), ("read", read_s)) if v is not None}
    if timeouts:
        slot["timeouts"] = timeouts
    config = {"name": "customer-support", "active_slot": "blue", "slots": {"blue": slot}}
    return yaml.safe_dump(config, sort_keys=False)


@contextlib.contextmanager
def refusing_endpoint() -> Iterator[str]:
    """A loopback port that is bound but not listening: every connection to it is refused.

    Holding the bound socket (rather than closing a probed port) means no other
    process can start listening there while the test runs.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class SimProcess:
    """`slipway sim serve` as a real child process, which a test may kill -9 mid-answer."""

    url: str
    proc: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, the kernel just closes the sockets."""
        self.proc.kill()
        self.proc.wait(10)


@contextlib.contextmanager
def sim_process(workdir: Path, profile_text: str, *, startup_s: float = 20.0) -> Iterator[SimProcess]:
    profile = workdir / "sim-profile.yaml"
    profile.write_text(profile_text)
    port = free_port()
    command = [sys.executable, "-m", "slipway.cli.sim", "serve", "--profile", str(profile)]
    command += ["--port", str(port), "--seed", "0"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        sim = SimProcess(f"http://127.0.0.1:{port}", proc)
        try:
            wait_healthy(
                f"{sim.url}/health",
                proc,
                startup_s,
                "slipway sim serve",
                lambda: proc.communicate()[1].decode(),
            )
            yield sim
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


def request_record(gateway: Gateway, request_id: str, token: str | None = None) -> dict[str, Any]:
    """GET /admin/requests/{id}: {"request": record, "feedback": latest feedback or None}."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(f"{gateway.url}/admin/requests/{request_id}", headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def env_without(*names: str) -> dict[str, str]:
    """This process's environment minus `names` (for child processes that must not inherit them)."""
    return {k: v for k, v in os.environ.items() if k not in names}
