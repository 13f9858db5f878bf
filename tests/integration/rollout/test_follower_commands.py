"""An operator's command sent to a replica that has not yet taken in the canary's own route change.

Two gateways on one SQLite store, in one process: A runs the deploy, B gets
the abort at once, before its poll has read A's route change. B's table is
older than the canary's: that is lag, never a change behind the canary's back.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.harness import live_gateway, routing_yaml, sim_backend, sim_profile


def test_an_abort_through_a_lagging_replica_aborts_instead_of_ending_the_canary_as_overridden(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2")) as green,
    ):
        config = routing_yaml(blue, green)
        with (
            live_gateway(tmp_path / "a", config, store_url=store) as a,
            live_gateway(tmp_path / "b", config, store_url=store) as b,
        ):
            for i in range(5):
                deploy = {"version": f"v3.{i}", "strategy": "canary", "slot": "green", "no_smoke": True,
                          "steps": "10%:1h,100%"}  # fmt: skip
                started = httpx.post(f"{a.url}/admin/deploy", json=deploy, timeout=30)
                assert started.status_code == 200, started.text
                aborted = httpx.post(
                    f"{b.url}/admin/canary/abort", json={"reason": "wrong build"}, timeout=30
                )
                assert aborted.status_code == 200, aborted.text
                canary = aborted.json()["canary"]
                assert (canary["status"], canary["reason"]) == ("aborted", "wrong build"), canary
