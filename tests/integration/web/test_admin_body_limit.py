"""The admin API answers before it reads: no token, no body read; a body over 1 MiB, refused at once.

Why: the issue sent 400 MiB to `/admin/switch` without a token; slipway read
all of it into memory (RSS 224 -> 1,419 MB, data-plane requests stalled 3.7 s)
and only then said 401. What the server read is measured from the client's
side: the body is sent in pieces on a raw socket while watching for the
answer, and the answer must come while most of the body is still unsent. A
server that reads the whole body first can only answer after the last byte.
Nothing here is judged by how long it took.
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.processes import ServeProcess, slipway_serve

TOKEN = "tok-5d0e7c3b9a18f2e4c6b7"
#: Larger than any socket buffers between client and server on loopback (a few MiB), so an answer that
#: comes before the client has sent half of it cannot have waited for the body.
BODY = 64 * 1024 * 1024
PIECE = 64 * 1024
#: Only so that a server that never answers fails the test instead of hanging it.
SILENCE_S = 60.0


@dataclass
class Answer:
    status: int
    body: dict[str, object]
    #: Body bytes the client had handed to the kernel when the first byte of the answer arrived.
    sent: int


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir = tmp_path_factory.mktemp("admin-body")
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
    ):
        (workdir / "slipway.yaml").write_text(routing_yaml(blue, green))
        args = ["--config", "slipway.yaml", "--no-watch"]
        with slipway_serve(workdir, args, env={"SLIPWAY_ADMIN_TOKEN": TOKEN}) as proc:
            yield proc


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    sock.setblocking(True)
    sock.settimeout(SILENCE_S)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection in the middle of its answer"
        rest += chunk
    return int(lines[0].split()[1]), json.loads(rest[:length]) if length else {}


def send_watching(url: str, head: bytes, pieces: Iterator[bytes]) -> Answer:
    """Send `head`, then `pieces` as fast as the server takes them; stop at the first byte of an answer."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=SILENCE_S) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        sent = 0
        for piece in pieces:
            view = memoryview(piece)
            while view:
                readable, writable, _ = select.select([sock], [sock], [], SILENCE_S)
                if readable:
                    return Answer(*_read_answer(sock), sent=sent)
                assert writable, f"the server neither read nor answered for {SILENCE_S:g} s"
                try:
                    n = sock.send(view)
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    return Answer(*_read_answer(sock), sent=sent)
                sent += n
                view = view[n:]
        return Answer(*_read_answer(sock), sent=sent)


def _zeros(total: int) -> Iterator[bytes]:
    piece = b"0" * PIECE
    for _ in range(total // PIECE):
        yield piece


def _chunked(total: int) -> Iterator[bytes]:
    piece = b"%x\r\n" % PIECE + b"0" * PIECE + b"\r\n"
    for _ in range(total // PIECE):
        yield piece
    yield b"0\r\n\r\n"


def _head(url: str, path: str, headers: dict[str, str]) -> bytes:
    host = url.removeprefix("http://")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_huge_body_without_a_token_gets_401_before_it_is_read(server: ServeProcess) -> None:
    # When 64 MiB are posted to /admin/switch without a token
    head = _head(server.url, "/admin/switch", {"Content-Length": str(BODY)})
    answer = send_watching(server.url, head, _zeros(BODY))

    # Then the refusal came while most of the body was still on the client's side
    assert answer.status == 401, answer
    assert "missing admin token" in str(answer.body["detail"])
    assert answer.sent < BODY // 2, f"the server read {answer.sent:,} of {BODY:,} bytes before answering"
    # And the server goes on serving
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_a_wrong_token_is_refused_before_the_body_too(server: ServeProcess) -> None:
    head = _head(server.url, "/admin/deploy", {"Content-Length": str(BODY), "Authorization": "Bearer nope"})
    answer = send_watching(server.url, head, _zeros(BODY))
    assert answer.status == 401, answer
    assert answer.sent < BODY // 2, f"the server read {answer.sent:,} of {BODY:,} bytes before answering"


def test_with_the_token_a_declared_length_over_the_admin_limit_gets_413_at_once(server: ServeProcess) -> None:
    head = _head(
        server.url, "/admin/switch", {"Content-Length": str(BODY), "Authorization": f"Bearer {TOKEN}"}
    )
    answer = send_watching(server.url, head, _zeros(BODY))
    assert answer.status == 413, answer
    error = answer.body["error"]
    assert isinstance(error, dict)
    assert "1 MiB" in error["message"] and f"{BODY:,}" in error["message"], error
    assert "smoke" in error["hint"], error
    assert answer.sent < BODY // 2, f"the server read {answer.sent:,} of {BODY:,} bytes before answering"


def test_with_the_token_a_chunked_body_is_cut_once_it_passes_the_limit(server: ServeProcess) -> None:
    headers = {"Transfer-Encoding": "chunked", "Authorization": f"Bearer {TOKEN}"}
    answer = send_watching(server.url, _head(server.url, "/admin/deploy", headers), _chunked(BODY))
    assert answer.status == 413, answer
    error = answer.body["error"]
    assert isinstance(error, dict) and "1 MiB" in error["message"], error
    assert answer.sent < BODY // 2, f"the server read {answer.sent:,} of {BODY:,} bytes before answering"
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_a_body_under_the_limit_is_read_and_judged_as_before(server: ServeProcess) -> None:
    """A deploy's smoke cases travel in its body: 20 long prompts still fit."""
    smoke = "\n".join(
        json.dumps({"id": f"case-{i}", "prompt": "refund " * 5_000, "expect": {"label": "billing"}})
        for i in range(20)
    )
    body = {"version": "v9", "endpoint": "http://127.0.0.1:9", "smoke_jsonl": smoke, "steps": "5%"}
    assert 512 * 1024 < len(json.dumps(body)) < 1024 * 1024
    resp = httpx.post(
        f"{server.url}/admin/deploy",
        json=body,
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    # Judged on what it says (steps without a canary), not on its size
    assert resp.status_code == 400, resp.text
    assert "belong to a canary" in resp.json()["error"]["message"]


def test_the_data_plane_keeps_its_own_limit(server: ServeProcess) -> None:
    """Chat bodies are bigger than admin ones (gateway.max_body_bytes, 4 MiB by default)."""
    text = "refund " * (2 * 1024 * 1024 // 7)
    resp = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": text}]},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
