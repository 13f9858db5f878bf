"""A shadow promoted through blue-green passes the same pre-deployment checklist as a deploy.

The switch moves every user at once, so the checklist is judged as for a
blue-green deploy: a failed required item refuses the promotion with the
deploy's own status and words (the shadow keeps mirroring, no user reaches
the candidate); a waiver with a reason lets it go on and is kept in the
route history, the deployment and the checklist record; a passing checklist
promotes without a word more. Two sim servers, the gateway on loopback with
its SQLite store, the CLI and the admin API as a user calls them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.canary_story import traffic
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.processes import run_cli

#: A decision rule a few hundred pairs of an identical candidate satisfy (the report says go), no bake
#: after the switch (so nothing rolls the switch back by itself), and the owner item required.
CONFIG = """\
shadow:
  decision: {min_pairs: 100, min_effect: 0.2}
bake: {after_switch: false}
checklist: {required: [owner]}
"""
REFUSED = "the pre-deployment checklist refused v2.2; no traffic moved"
NO_OWNER = "no owner named and no automated rollback"


@contextlib.contextmanager
def shadow_at_go(tmp_path: Path) -> Iterator[Gateway]:
    """v2.1 in blue serving, v2.2 in green, the gateway; nothing deployed yet."""
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green, extra=CONFIG)) as gw,
    ):
        yield gw


async def mirror_until_go(gw: Gateway) -> None:
    """Deploy v2.2 as a shadow (its checklist passes: a shadow serves no user) and wait for a go."""
    r = httpx.post(
        f"{gw.url}/admin/deploy",
        json={"version": "v2.2", "strategy": "shadow", "slot": "green", "no_smoke": True},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    await traffic(gw.url, 200)
    # The mirror copies each request after its answer; wait for all 200 pairs (a generous bound only
    # stops a hang, the pairs' count is what is waited for).
    for _ in range(1200):
        if get(gw, "/admin/shadow")["pairs"] >= 200:
            break
        await asyncio.sleep(0.05)
    report = get(gw, "/admin/shadow/report")
    assert report["verdict"]["decision"] == "go", report["verdict"]


def get(gw: Gateway, path: str, **params: str) -> Any:
    r = httpx.get(f"{gw.url}{path}", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_failed_required_item_refuses_the_promotion_as_it_refuses_a_deploy_and_a_waiver_ships_it(
    tmp_path: Path,
) -> None:
    with shadow_at_go(tmp_path) as gw:
        # The refusal a blue-green deploy gets, for comparison.
        deploy = httpx.post(
            f"{gw.url}/admin/deploy", json={"version": "v2.2", "slot": "green", "no_smoke": True}, timeout=60
        )
        assert deploy.status_code >= 400 and REFUSED in deploy.json()["error"]["message"], deploy.text
        await mirror_until_go(gw)

        refused = run_cli(gw.url, ["shadow", "promote", "--via", "bluegreen"])
        assert refused.returncode == 1, refused.stdout + refused.stderr
        text = " ".join(refused.stderr.split())
        assert REFUSED in text and "owner (" in text and NO_OWNER in text, text
        assert "promote again, or waive it: --waive ITEM" in text, text
        api = httpx.post(f"{gw.url}/admin/shadow/promote", json={"via": "bluegreen"}, timeout=60)
        assert api.status_code == deploy.status_code, api.text
        error = api.json()["error"]
        assert error["code"] == deploy.json()["error"]["code"] == "checklist_failed"
        assert error["message"].split(":")[0] == deploy.json()["error"]["message"].split(":")[0]

        # Nothing moved: the shadow still mirrors, every user is still on blue.
        status = get(gw, "/admin/status")
        assert status["route"]["active"] == "blue" and status["route"]["mirror"]["slot"] == "green"
        assert get(gw, "/admin/shadow")["shadow"]["status"] == "running"
        assert await traffic(gw.url, 10, labels=False) == {"blue": 10}
        record = get(gw, "/admin/checklists", version="v2.2")["checklists"][0]
        owner = next(i for i in record["items"] if i["item"] == "owner")
        assert (record["passed"], owner["status"], owner["required"]) == (False, "fail", True), record

        why = "the on-call rota is in the incident channel"
        out = run_cli(
            gw.url, ["shadow", "promote", "--via", "bluegreen", "--waive", "owner", "--reason", why]
        )
        assert out.returncode == 0, out.stdout + out.stderr
        said = " ".join(out.stdout.split())
        assert "promoted v2.2" in said and "waived" in said, said

        assert get(gw, "/admin/status")["route"]["active"] == "green"
        assert await traffic(gw.url, 10, labels=False) == {"green": 10}
        switch = next(c for c in get(gw, "/admin/history")["changes"] if c["to_active"] == "green")
        assert "promote shadow v2.2 (blue-green)" in switch["reason"], switch
        assert f"owner waived ({why})" in switch["reason"], switch
        shadow_dep = get(gw, "/admin/shadow")["shadow"]["deployment_id"]
        dep = next(d for d in get(gw, "/admin/deployments")["deployments"] if d["id"] == shadow_dep)
        assert dep["status"] == "live", dep
        assert f"owner waived ({why})" in dep["detail"]["checklist"]["waivers"], dep["detail"]["checklist"]
        latest = get(gw, "/admin/status")["checklist"]
        assert latest["passed"] is True and latest["id"] == dep["detail"]["checklist"]["id"]
        assert {i["item"]: i.get("waiver") for i in latest["items"] if i["status"] == "waived"} == {
            "owner": why
        }


async def test_a_passing_checklist_promotes_and_the_api_body_takes_the_owner(tmp_path: Path) -> None:
    with shadow_at_go(tmp_path) as gw:
        await mirror_until_go(gw)
        wrong = httpx.post(
            f"{gw.url}/admin/shadow/promote",
            json={"via": "bluegreen", "waivers": {"ownr": "typo"}},
            timeout=60,
        )
        assert wrong.status_code == 422 and "the items are: evaluation" in wrong.text, wrong.text
        canary = httpx.post(
            f"{gw.url}/admin/shadow/promote", json={"via": "canary", "owner": "ana"}, timeout=60
        )
        assert canary.status_code == 400 and "--via bluegreen" in canary.text, canary.text
        assert get(gw, "/admin/shadow")["shadow"]["status"] == "running"

        r = httpx.post(
            f"{gw.url}/admin/shadow/promote", json={"via": "bluegreen", "owner": "ana"}, timeout=60
        )
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["active"] == "green" and out["shadow"]["status"] == "promoted"
        owner = next(i for i in out["checklist"]["items"] if i["item"] == "owner")
        assert owner["status"] == "pass" and "ana" in owner["evidence"], owner
        switch = next(c for c in get(gw, "/admin/history")["changes"] if c["to_active"] == "green")
        assert "checklist passed (" in switch["reason"] and "waived" not in switch["reason"], switch
