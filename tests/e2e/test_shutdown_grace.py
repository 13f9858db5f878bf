"""A stop with generations in flight: they get `gateway.shutdown_grace_s` to finish, then are cut.

A real `slipway serve` process, simulated backends streaming slowly on loopback.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.processes import slipway_serve


def slow(model: str, version: str) -> str:
    """A stream of 400 tokens, one every 50 ms: 20 s, well within the default 30 s grace."""
    return sim_profile(model, version, output_tokens=400, stream_interval_ms=50.0)


def test_a_stream_longer_than_the_grace_is_cut_and_the_gateway_still_stops_cleanly(tmp_path: Path) -> None:
    with (
        sim_backend(slow("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(slow("customer-support-v2.2", "v2.2")) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(
            routing_yaml(blue, green, extra="gateway: {shutdown_grace_s: 1}\n")
        )
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as gw:
            request = {
                "model": "customer-support",
                "stream": True,
                "messages": [{"role": "user", "content": "refund"}],
            }
            received: list[str] = []
            with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=request, timeout=60) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                received.append(next(line for line in lines if line.startswith("data:")))
                gw.proc.send_signal(signal.SIGTERM)
                try:
                    received.extend(lines)
                except httpx.RemoteProtocolError:
                    pass  # the connection closed mid-body: what a cut stream looks like to a client
            # With the default grace the whole 20 s stream would have ended with [DONE].
            assert "data: [DONE]" not in received
            assert gw.proc.wait(60) == 0, gw.log()
