"""A canary's own rollback verdict is told once per sink: by the canary, not again by the route controller.

Real sim backends, slipway on loopback, traffic with labels, two webhook
receivers; only the clock is moved by hand.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from tests.clock import ManualClock
from tests.e2e.canary_story import check_after, deploy_canary, traffic
from tests.harness import live_gateway, routing_yaml, sim_backend, sim_profile
from tests.webhooks import webhook_receiver

BAD_BILLING = """\
categories:
  billing: {keywords: [refund, invoice], accuracy: 0.4}
"""


async def test_a_canary_rolled_back_by_its_verdict_is_announced_once(tmp_path: Path) -> None:
    clock = ManualClock()
    with (
        webhook_receiver() as one,
        webhook_receiver() as two,
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2", extra=BAD_BILLING), seed=1) as green,
    ):
        notify = textwrap.dedent(
            f"""\
            notify:
              webhooks: ["{one.url}", "{two.url}"]
            """
        )
        with live_gateway(tmp_path, routing_yaml(blue, green, extra=notify), clock=clock) as gw:
            # Given a canary of a version that answers billing wrong, with traffic and labels
            deploy_canary(gw, "10%:2h,100%")
            await traffic(gw.url, 1200)
            # When its first check rolls it back
            assert check_after(gw, clock, 15)["canary"]["status"] == "rolled_back"
            # Then each sink got the canary's rollback once, and no second note about the same move
            for hook in (one, two):
                hook.wait_for("canary.rolled_back")
                time.sleep(0.3)
                seen = [b["slipway"]["event"] for b in hook.bodies()]
                assert seen.count("canary.rolled_back") == 1
                assert [e for e in seen if e.startswith("route.")] == ["route.config"], seen
