"""GET /readyz: may this process get traffic? Routes loaded, store answering, record writer running.

A load balancer asks it without a token, so it says why not in a few fixed
words and nothing else: no store address, no error text.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.harness import live_gateway, routing_yaml

from slipway.app import ServeSettings, create_app


def test_a_serving_gateway_is_ready_and_says_so_without_a_token(
    tmp_path: Path, blue_url: str, green_url: str
) -> None:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url), token="tok-ready-1234567890abcdef") as gw:
        r = httpx.get(f"{gw.url}/readyz", timeout=60)
        assert (r.status_code, r.json()) == (200, {"ready": True, "reasons": []})
        assert httpx.get(f"{gw.url}/admin/status", timeout=60).status_code == 401


async def test_a_writer_that_stopped_or_a_store_that_does_not_answer_makes_it_unready(
    tmp_path: Path, blue_url: str, green_url: str
) -> None:
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, green_url))
    settings = ServeSettings(config_path=tmp_path / "slipway.yaml", workdir=tmp_path, watch_config=False)
    _app, runtime = create_app(settings)
    assert await runtime.readiness() == ["no routes loaded", "store not open", "record writer not running"]
    await runtime.start()
    try:
        assert await runtime.readiness() == []
        assert runtime.recorder is not None and runtime.store is not None
        await runtime.recorder.close()
        assert await runtime.readiness() == ["record writer not running"]
        await runtime.store.close()
        reasons = await runtime.readiness()
        assert reasons == ["store did not answer within 1 s", "record writer not running"]
        assert not any(str(tmp_path) in reason for reason in reasons)
    finally:
        await runtime.stop()
