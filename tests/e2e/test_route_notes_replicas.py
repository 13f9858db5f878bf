"""Two `slipway serve` replicas on one store: a route change is told once, by the replica that made it.

Real processes on one SQLite store (one host), sim backends, one webhook
receiver both replicas are configured to send to. The replica that follows
a change serves it but says nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.processes import admin_status, run_cli, slipway_serve, wait_for_status
from tests.webhooks import webhook_receiver


def test_a_change_sent_to_either_replica_is_told_once(tmp_path: Path) -> None:
    with (
        webhook_receiver() as hook,
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
    ):
        notify = f'notify: {{webhooks: ["{hook.url}"], backoff_s: 0.05}}\n'
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, extra=notify))
        store = f"sqlite:///{tmp_path / 'state' / 'slipway.db'}"
        args = ["--config", "slipway.yaml", "--store", store, "--route-poll", "0.2"]
        with slipway_serve(tmp_path, args) as a, slipway_serve(tmp_path, args) as b:
            # When ann switches through A, and rolls back through B once B serves the switch
            done = run_cli(a.url, ["switch", "green", "--reason", "try v2.2"])
            assert done.returncode == 0, done.stdout + done.stderr
            switched = admin_status(a.url)["route"]["version"]
            wait_for_status(b.url, lambda st: st["route"]["version"] >= switched, "B follows A's switch", 15)
            done = run_cli(b.url, ["rollback", "--reason", "billing accuracy fell"])
            assert done.returncode == 0, done.stdout + done.stderr
            wait_for_status(a.url, lambda st: st["route"]["active"] == "blue", "A follows B's rollback", 15)
            hook.wait_for("route.rollback")
            time.sleep(1.0)  # a second announcement, if any, would have arrived by now

        # Then the sink heard of each change once: the first routes, the switch, the rollback
        notes = [b["slipway"] for b in hook.bodies()]
        assert [n["event"] for n in notes] == ["route.config", "route.switch", "route.rollback"], notes
        assert [n["facts"]["route version"] for n in notes] == ["1", str(switched), str(switched + 1)]
