"""`slipway serve` stopped the way systemd or Ctrl-C stops it: engines go with it, no record is lost."""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest
from tests.processes import slipway_serve

from slipway.backends.engine import find_llama_server, install_llama_server
from slipway.demo.tiny_model import build_tiny_models
from slipway.store import default_store_url, open_store

pytestmark = pytest.mark.llama


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_engine_and_flushes_every_record(
    tmp_path: Path, sig: signal.Signals
) -> None:
    one_engine_config(tmp_path)
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as served:
        engine_pid = httpx.get(f"{served.url}/admin/status").json()["engines"]["support"]["pid"]
        ids = []
        for i in range(20):
            r = httpx.post(
                f"{served.url}/v1/completions",
                json={"prompt": f"ticket: refund {i} intent:", "max_tokens": 2, "temperature": 0},
            )
            assert r.status_code == 200, r.text
            ids.append(r.headers["x-slipway-request-id"])
        served.proc.send_signal(sig)
        code = served.proc.wait(30)
        log = served.log()
    assert code == 0, log
    assert_gone_soon(engine_pid)
    async with await open_store(default_store_url(tmp_path)) as store:
        found = [await store.get_request(i) for i in ids]
    assert all(rec is not None and rec.status == 200 for rec in found)


def test_kill_9_of_slipway_takes_its_engine_along(tmp_path: Path) -> None:
    """An OOM kill must not leave a llama-server holding the port and memory for the next start."""
    one_engine_config(tmp_path)
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as served:
        pid = httpx.get(f"{served.url}/admin/status").json()["engines"]["support"]["pid"]
        served.proc.send_signal(signal.SIGKILL)
        served.proc.wait(10)
    assert_gone_soon(pid)


def one_engine_config(tmp_path: Path) -> None:
    """slipway.yaml with one slot on one engine that slipway runs (the tiny model, adapter v2.1)."""
    if find_llama_server() is None:
        install_llama_server()
    models = build_tiny_models(tmp_path / "models", seed=0)
    (tmp_path / "slipway.yaml").write_text(
        textwrap.dedent(
            f"""\
            engines:
              support: {{base: {models.base}, adapters: [{models.v2_1}], ctx_size: 512}}
            active_slot: blue
            slots:
              blue: {{model: cs-v2.1, engine: support, adapter: v2.1}}
            """
        )
    )


def assert_gone_soon(pid: int, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"llama-server ({pid}) outlived slipway"
        time.sleep(0.05)
