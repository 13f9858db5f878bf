"""A running `slipway serve` fed hostile config files: each is refused, serving goes on, a good edit applies.

Real process, real watcher, real sim backends. Every wait here is a failure
guard (generous, for a loaded 2-core CI machine), never the thing measured:
the tests assert what happened, not how fast.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import routing_yaml
from tests.processes import ServeProcess, slipway_serve, wait_for_status

#: Failure guard for anything the watcher does after a save.
WAIT_S = 60.0
#: Failure guard for one /healthz while slipway parses a hostile file (the alias bomb used to hang it).
HEALTHZ_GUARD_S = 15.0

ALIAS_BOMB = "".join(
    [f"a: &a [{','.join(['lol'] * 9)}]\n"]
    + [
        f"{name}: &{name} [{','.join(['*' + prev] * 9)}]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


@pytest.fixture
def served(tmp_path: Path, blue_url: str, green_url: str) -> Iterator[ServeProcess]:
    # The log goes to the config's own directory (serve-PORT.log), like `slipway serve > gw.log`.
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, green_url))
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as proc:
        yield proc


def ask(url: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "refund"}]},
        timeout=HEALTHZ_GUARD_S,
    )


def last_error_has(*words: str) -> Callable[[dict[str, Any]], bool]:
    """A status check: the config's last error contains every one of `words`."""
    return lambda s: all(w in (s["config"]["last_error"] or "") for w in words)


def hostile_files(blue_url: str, green_url: str) -> list[tuple[str, bytes, list[str]]]:
    """(what, file content, words the refusal must contain)."""
    good = routing_yaml(blue_url, green_url)
    return [
        (
            "a NaN weight",
            (good + "weights: {blue: .nan, green: 100}\n").encode(),
            ["weights.blue", "nan is not a finite number", "0 to 100"],
        ),
        ("an alias bomb", (good + ALIAS_BOMB).encode(), ["aliases", "the limit is 10,000"]),
        ("a 10 MB file", b"# padding\n" * (1024 * 1024), ["at most 1,048,576 bytes"]),
        ("binary garbage", bytes(random.Random(7).randrange(256) for _ in range(4096)), ["not UTF-8"]),
        ("wrong types", b"active_slot: [1, 2]\nslots: 5\n", ["active_slot"]),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000, ["nest"]),
        (
            "a duplicate key",
            (good + "active_slot: green\n").encode(),
            ["'active_slot' appears twice", "on lines 2 and 6"],
        ),
        (
            "a version with CR/LF",
            good.replace("kind: sim}", 'kind: sim, version: "v1\\r\\nSet-Cookie: pwned=1"}', 1).encode(),
            ["slots.blue.version", "'v1\\r\\nSet-Cookie: pwned=1'", "is not allowed"],
        ),
    ]


def test_the_watcher_refuses_every_hostile_file_keeps_serving_and_then_applies_a_good_edit(
    served: ServeProcess, tmp_path: Path, blue_url: str, green_url: str
) -> None:
    config = tmp_path / "slipway.yaml"
    assert ask(served.url).headers["x-slipway-slot"] == "blue"
    for what, content, words in hostile_files(blue_url, green_url):
        config.write_bytes(content)
        st = wait_for_status(
            served.url,
            last_error_has(*words),
            f"{what} is refused and reported in status",
        )
        assert st["route"]["active"] == "blue", what
        answer = ask(served.url)
        assert answer.status_code == 200 and answer.headers["x-slipway-slot"] == "blue", what
        reload = httpx.post(f"{served.url}/admin/reload", json={}, timeout=WAIT_S)
        assert reload.status_code == 400, f"{what}: {reload.status_code} {reload.text}"
        assert all(w in reload.json()["error"]["message"] for w in words), reload.text

    config.write_text(routing_yaml(blue_url, green_url, active="green"))
    wait_for_status(
        served.url,
        lambda s: s["route"]["active"] == "green" and s["config"]["last_error"] is None,
        "the good edit after all of them is applied",
    )
    answer = ask(served.url)
    assert answer.headers["x-slipway-slot"] == "green"
    assert answer.headers["x-slipway-version"] == "customer-support-v2.2"
    assert served.proc.poll() is None
    assert "Traceback" not in served.log(), served.log()


def test_healthz_keeps_answering_while_slipway_reads_hostile_files(
    served: ServeProcess, tmp_path: Path, blue_url: str, green_url: str
) -> None:
    config = tmp_path / "slipway.yaml"
    good = routing_yaml(blue_url, green_url)
    # Near the size limit but valid YAML: the most parsing a file can ask for.
    big = good + "".join(f"# {'x' * 100} {i}\n" for i in range(9_000))
    answered: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                answered.append(httpx.get(f"{served.url}/healthz", timeout=HEALTHZ_GUARD_S).status_code)
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        for content, words in (
            (good + ALIAS_BOMB, "aliases"),
            (big.replace("kind: sim}", "kind: simm}", 1), "slots.blue.kind"),
            ("[" * 200_000 + "]" * 200_000, "nest"),
            ("[" + "1," * 500_000 + "1]", "more than 10,000 values"),
        ):
            config.write_text(content)
            wait_for_status(served.url, last_error_has(words), f"refused: {words}")
    finally:
        stop.set()
        poller.join(HEALTHZ_GUARD_S + 5)
    assert not failures, f"/healthz did not answer within {HEALTHZ_GUARD_S:g} s: {failures}"
    assert answered and set(answered) == {200}


def test_files_written_beside_the_config_wake_nothing(
    served: ServeProcess, tmp_path: Path, blue_url: str, green_url: str
) -> None:
    """`slipway serve > gw.log` next to the config used to log "1 change detected" ~10 times a second."""
    for i in range(20):
        (tmp_path / "neighbour.txt").write_text(f"write {i}\n")
    # The config is saved after the neighbour's writes, so once its change is applied every
    # earlier event in the directory has been through the watcher.
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, green_url, active="green"))
    wait_for_status(served.url, lambda s: s["route"]["active"] == "green", "the config edit is applied")
    log = served.log()
    assert "change detected" not in log, log
    changes = httpx.get(f"{served.url}/admin/history", timeout=WAIT_S).json()["changes"]
    watched = [c for c in changes if c["actor"] == "config-file (watch)"]
    assert len(watched) == 1, changes
