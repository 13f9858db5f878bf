"""The loop closes: a rollback's failing answers stop the next version with the same flaw before users see it.

The reference article's promise — "the failing cases become regression tests;
the next deployment is safer than the last" — as one story on real parts
(sim model servers, slipway on loopback with its SQLite store, the official
HTTP client for traffic and labels, the `slipway` CLI as a subprocess; only
time is moved by hand):

1. v2.2 runs as a canary and is rolled back by slipway on billing (it gets
   billing tickets with a pasted JSON invoice wrong);
2. its failing answers become must-pass regression cases, with the gateway's
   own record of what each request asked;
3. a "v2.3" with the same flaw is refused by the pre-deployment checklist of
   the default configuration, and no user request ever reaches it;
4. a v2.3 that answers those tickets right passes the same checklist and ships.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from tests.clock import ManualClock
from tests.e2e.canary_story import check_after, deploy_canary
from tests.e2e.ticket_story import EMAIL, FAILS_ON_JSON, send_tickets
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.processes import run_cli


async def traffic(gw: Gateway, n: int, *, labels: bool = True) -> dict[str, int]:
    served, _bodies = await send_tickets(gw, n, labels=labels)
    return served


#: The team's smoke set: plain tickets, no pasted invoice — like most, it does not see v2.2's flaw.
SMOKE = [
    {"id": f"{label}-{i}", "prompt": text.format(i=i), "expect": {"label": label}}
    for i in range(5)
    for label, text in (("billing", "please refund order #{i}"), ("shipping", "where is my parcel #{i}"))
]


def cli(gw: Gateway, *args: str) -> tuple[int, str]:
    done = run_cli(gw.url, list(args), env={"COLUMNS": "250"})
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def status(gw: Gateway) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{gw.url}/admin/status", timeout=30).json()
    return data


async def test_a_rollbacks_failing_cases_refuse_the_next_version_with_the_same_flaw(tmp_path: Path) -> None:
    clock = ManualClock()
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2", extra=FAILS_ON_JSON), seed=1) as green,
        sim_backend(sim_profile("cs-v2.3", "v2.3", extra=FAILS_ON_JSON), seed=2) as flawed,
        sim_backend(sim_profile("cs-v2.3", "v2.3"), seed=3) as fixed,
        live_gateway(tmp_path, routing_yaml(blue, green), clock=clock) as gw,
    ):
        store, recorder = gw.runtime.store, gw.runtime.recorder
        assert store is not None and recorder is not None

        # Given v2.2 ran as a canary at 20 % and slipway rolled it back at its first check
        dep = deploy_canary(gw, "20%:2h,100%")["deployment"]["id"]
        served = await traffic(gw, 800)
        assert served.get("green", 0) > 80, served
        assert check_after(gw, clock, 15)["canary"]["status"] == "rolled_back"

        # When its failing answers become regression cases (from what the gateway kept of each request)
        code, out = cli(gw, "regressions", "add", "--from", dep, "--redact", EMAIL, "--json")
        assert code == 0, out
        added = json.loads(out)
        assert added["suite"] == "regressions" and added["added"] > 3, added
        assert all(c["must_pass"] and c["category"] == "billing" for c in added["cases"])

        # And a v2.3 with the same flaw is deployed, with the checklist as configured by default
        smoke = tmp_path / "smoke.jsonl"
        smoke.write_text("".join(json.dumps(case) + "\n" for case in SMOKE))
        deploy = ["deploy", "v2.3", "--slot", "green", "--model", "cs-v2.3", "--smoke", str(smoke)]
        code, out = cli(gw, *deploy, "--endpoint", flawed)

        # Then the checklist refuses it on the regression cases, and no user request reaches it
        assert code == 1, out
        assert "regression (" in out and "must-pass cases failed (regressions:" in out, out
        assert "no traffic moved" in out
        st = status(gw)
        assert st["route"]["active"] == "blue" and not st["route"]["weights_pct"], st["route"]
        deps = httpx.get(f"{gw.url}/admin/deployments", timeout=30).json()["deployments"]
        assert (deps[0]["version"], deps[0]["status"]) == ("v2.3", "checklist_failed")
        assert deps[0]["detail"]["smoke"]["passed"], "the smoke set alone would have let it through"
        after = await traffic(gw, 100, labels=False)
        assert set(after) == {"blue"}, after
        await recorder.flush()
        versions = {r.version for r in await store.list_requests(since=0.0)}
        assert not any("v2.3" in v for v in versions), versions

        # When a v2.3 that files those tickets under billing is deployed the same way
        code, out = cli(gw, *deploy, "--endpoint", fixed)

        # Then the same checklist passes, the regression cases with it, and v2.3 serves
        assert code == 0, out
        assert "deployed v2.3" in out, out
        latest = status(gw)["checklist"]
        regression = next(i for i in latest["items"] if i["item"] == "regression")
        assert regression["status"] == "pass" and "must-pass cases passed" in regression["evidence"], (
            regression
        )
        assert status(gw)["route"]["active"] == "green"
        assert set(await traffic(gw, 20, labels=False)) == {"green"}
