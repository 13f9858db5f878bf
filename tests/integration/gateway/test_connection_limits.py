"""Idle and trickling sockets cannot take the gateway down, nor make a slot look broken.

A real `slipway serve` with a small connection cap and short deadlines, and raw
sockets that do what a slowloris attack does: open and send nothing, trickle a
header a byte at a time, or stop halfway through a body. Each is refused or
cut with a status that says why, a fresh client is served as soon as room is
made, and none of it reaches the records of a slot.

The deadlines are short so the test is quick; the only timing asserted is
"eventually, within a generous guard", never how fast.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml
from tests.faults import profile_yaml
from tests.harness import sim_backend
from tests.processes import ServeProcess, slipway_serve

CAP = 12
GUARD_S = 30.0
CHAT = b'{"model": "m", "messages": [{"role": "user", "content": "refund"}]}'


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir = tmp_path_factory.mktemp("connections")
    with sim_backend(profile_yaml()) as sim_url:
        config = {
            "name": "customer-support",
            "active_slot": "blue",
            "slots": {"blue": {"model": "customer-support-v2.1", "endpoint": sim_url, "kind": "sim"}},
            "gateway": {"max_connections": CAP, "header_timeout_s": 4, "body_timeout_s": 1.5},
        }
        (workdir / "slipway.yaml").write_text(yaml.safe_dump(config))
        with slipway_serve(workdir, ["--config", "slipway.yaml", "--no-watch"]) as proc:
            yield proc


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=GUARD_S)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset after its answer counts as a close)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def status(url: str) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(f"{url}/admin/status", timeout=GUARD_S).json()["connections"]
    return stats


def wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {GUARD_S}s: {what}"
        time.sleep(0.05)


def chat(url: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        content=CHAT,
        headers={"content-type": "application/json"},
        timeout=GUARD_S,
    )


def test_a_connection_that_trickles_its_headers_is_cut_with_408(served: ServeProcess) -> None:
    before = status(served.url)["header_timeouts"]
    sock = connect(served.url)
    with sock:
        partial = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-A: "
        started = time.monotonic()
        sent = 0
        # One byte every 0.2 s: each arrives well within any per-byte idle timer, which is why the
        # deadline runs from the first byte, not from the last.
        with contextlib.suppress(OSError):
            while time.monotonic() - started < GUARD_S:
                sock.send(partial[sent : sent + 1] if sent < len(partial) else b"a")
                sent += 1
                time.sleep(0.2)
                sock.settimeout(0.01)
                with contextlib.suppress(TimeoutError, BlockingIOError):
                    if sock.recv(1, socket.MSG_PEEK):
                        break
                sock.settimeout(GUARD_S)
        sock.settimeout(GUARD_S)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer[:200]
    assert b"headers did not arrive within 4s" in answer
    assert status(served.url)["header_timeouts"] == before + 1


def test_a_body_that_stops_halfway_is_cut_with_408(served: ServeProcess) -> None:
    before = status(served.url)["body_timeouts"]
    with connect(served.url) as sock:
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(CHAT) + CHAT[:10])
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer[:200]
    assert b"body did not arrive within 1.5s of its headers" in answer
    assert status(served.url)["body_timeouts"] == before + 1


def test_past_the_cap_a_new_client_is_refused_at_once_then_served_once_room_is_made(
    served: ServeProcess,
) -> None:
    before = status(served.url)
    idle = [connect(served.url) for _ in range(CAP)]  # open and send nothing, as an attacker would
    try:
        # The kernel hands connections over in order: the extra one comes after all the idle ones.
        with connect(served.url) as extra:
            refusal = read_all(extra)
        assert refusal.startswith(b"HTTP/1.1 503 Service Unavailable"), refusal[:200]
        assert b"at its limit of 12 open connections" in refusal
        assert b"retry-after: 1" in refusal.lower()
        # The idle sockets meet the header deadline, and the gateway serves again.
        for sock in idle:
            assert read_all(sock).startswith(b"HTTP/1.1 408")
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: chat(served.url).status_code == 200, "a fresh client is served again")
    after = status(served.url)
    assert after["refused_over_limit"] > before["refused_over_limit"]
    # None of it was a request of the slot's: no records, no errors.
    slots = httpx.get(f"{served.url}/admin/status", timeout=GUARD_S).json()["slots"]
    assert [(s["name"], s["errors_5m"]) for s in slots] == [("blue", 0)]
    metrics = httpx.get(f"{served.url}/metrics", timeout=GUARD_S).text
    assert 'slipway_client_connections_refused_total{reason="over_limit"}' in metrics
