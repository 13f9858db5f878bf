"""Shadow stories on sim backends (SH1–SH4): the mirror, the pairs, the report, expiry, export, promotion.

Promotion follows the report: a go promotes; a no-go or not-yet is refused
with the report's reasons, and promoted only when forced with a reason,
which then shows in the run, the route history and the notification.

Everything is real except time: two sim model servers, slipway on loopback
with its SQLite store, traffic through the gateway with labels sent as
feedback, the report read through the admin API. The shadow controller's
clock is moved by the test, so a 7-day expiry passes in one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.clock import ManualClock
from tests.e2e.canary_story import PROMPTS, traffic
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.webhooks import webhook_receiver

DAY = 86_400.0
#: The candidate: answers billing wrong 70 % of the time, and every input with a code block wrong.
REGRESSED = """\
categories:
  billing: {keywords: [refund, invoice], accuracy: 0.3}
patterns:
  - {match: "```", accuracy: 0.0}
"""
#: A decision rule a few hundred pairs of an identical candidate satisfy, so a test reaches "go" quickly.
QUICK_GO = """\
shadow:
  decision: {min_pairs: 100, min_effect: 0.2}
"""
#: A candidate that answers after ten minutes: any user who waited for it would hit the client's timeout.
SLOW = """\
categories:
  billing: {keywords: [refund, invoice], latency_ms: 600000}
  shipping: {keywords: [parcel, delivery], latency_ms: 600000}
"""


@contextlib.contextmanager
def shadow_story(
    tmp_path: Path, candidate_extra: str = "", clock: ManualClock | None = None, config_extra: str = ""
) -> Iterator[Gateway]:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2", extra=candidate_extra), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green, extra=config_extra), clock=clock) as gw,
    ):
        yield gw


def deploy_shadow(gw: Gateway, **extra: Any) -> dict[str, Any]:
    r = httpx.post(
        f"{gw.url}/admin/deploy",
        json={"version": "v2.2", "strategy": "shadow", "slot": "green", "no_smoke": True, **extra},
        headers={"x-slipway-actor": "ann"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def shadow_status(gw: Gateway) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{gw.url}/admin/shadow", timeout=30).json()
    return data


def wait_for_pairs(gw: Gateway, n: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = shadow_status(gw)
        if data["pairs"] >= n:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"only {data['pairs']} of {n} pairs after {timeout:g}s: {data['mirror']}")
        time.sleep(0.05)


async def coded_traffic(url: str, n: int) -> None:
    """`n` shipping and account questions that carry a code block, each labelled."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for i in range(n):
            category = ("shipping", "account")[i % 2]
            content = f"{category}: my tracking script fails\n```python\nprint(order_id({i}))\n```"
            r = await client.post(
                "/v1/chat/completions",
                headers={"x-slipway-category": category},
                json={"model": "m", "messages": [{"role": "user", "content": content}]},
            )
            assert r.status_code == 200 and r.headers["x-slipway-slot"] == "blue"
            fb = await client.post(
                "/v1/feedback", json={"request_id": r.headers["x-slipway-request-id"], "label": category}
            )
            assert fb.status_code == 200


async def test_every_request_is_mirrored_users_see_production_and_pairs_carry_both_answers(
    tmp_path: Path,
) -> None:
    with shadow_story(tmp_path, REGRESSED) as gw:
        # Given v2.2 in shadow behind v2.1, mirroring every request
        out = deploy_shadow(gw, sample="100%", until="5000-pairs")
        assert out["deployment"]["status"] == "shadow" and out["shadow"]["status"] == "running"
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["mirror"]["slot"] == "green" and status["route"]["weights_pct"] == {}

        # When traffic flows (chat and completions, streamed and not), with labels as feedback
        served = await traffic(gw.url, 400)
        assert served == {"blue": 400}, "users only ever get production's answer"
        client = openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="none", max_retries=0)
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": PROMPTS["shipping"]}], stream=True,
            extra_headers={"x-slipway-category": "shipping"},
        )  # fmt: skip
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.close()

        # Then every request became a pair, each with both answers; the stream's was assembled
        data = wait_for_pairs(gw, 401)
        assert data["by_category"] == {"billing": 200, "shipping": 201}
        assert data["mirror"]["dropped"] == 0 and data["mirror"]["candidate_errors"] == 0
        exported = httpx.get(f"{gw.url}/admin/shadow/export", params={"sample": 500, "format": "jsonl"}).text
        rows = [json.loads(line) for line in exported.splitlines()]
        assert len(rows) == 401
        streamed_rows = [r for r in rows if r["production_answer"] == streamed]
        assert streamed_rows, "the streamed answer reached its pair whole"
        billing = [r for r in rows if r["category"] == "billing"]
        assert all(r["label"] == "billing" and r["production_answer"].startswith("billing") for r in billing)
        wrong = sum(not r["candidate_answer"].startswith("billing") for r in billing)
        assert 100 < wrong < 180, "the candidate's own answers are what was stored"


async def test_the_report_names_the_regressed_category_and_input_pattern_and_nothing_else(
    tmp_path: Path,
) -> None:
    with shadow_story(tmp_path, REGRESSED) as gw:
        deploy_shadow(gw, sample="100%")
        await traffic(gw.url, 1200, concurrency=24)
        await coded_traffic(gw.url, 120)
        wait_for_pairs(gw, 1320)

        report = httpx.get(f"{gw.url}/admin/shadow/report", params={"format": "json"}, timeout=60).json()
        flagged = {
            (g["dimension"], g["value"]) for d in report["dimensions"] for g in d["groups"] if g["flagged"]
        }
        assert ("category", "billing") in flagged
        assert ("code", "yes") in flagged, flagged
        assert not any(dim == "category" and value != "billing" for dim, value in flagged), flagged
        assert report["verdict"]["decision"] == "no-go"
        assert any("billing" in reason for reason in report["verdict"]["reasons"]), report["verdict"]

        html = httpx.get(f"{gw.url}/admin/shadow/report", params={"format": "html"}, timeout=60)
        assert html.headers["content-type"].startswith("text/html") and "<svg" in html.text
        table = httpx.get(f"{gw.url}/admin/shadow/report", params={"format": "csv"}, timeout=60).text
        rows = {(r["dimension"], r["group"]): r for r in csv.DictReader(io.StringIO(table))}
        assert rows["category", "billing"]["status"] == "regressed", rows["category", "billing"]


@pytest.mark.parametrize("candidate", ["slow", "dead"])
async def test_a_slow_or_dead_candidate_leaves_the_users_path_unchanged(
    tmp_path: Path, candidate: str
) -> None:
    with contextlib.ExitStack() as stack:
        blue = stack.enter_context(sim_backend(sim_profile("cs-v2.1", "v2.1")))
        green_ctx = sim_backend(
            sim_profile("cs-v2.2", "v2.2", extra=SLOW if candidate == "slow" else ""), seed=1
        )
        green = green_ctx.__enter__()
        gw = stack.enter_context(live_gateway(tmp_path, routing_yaml(blue, green)))
        try:
            deploy_shadow(gw)
        finally:
            if candidate == "dead":
                green_ctx.__exit__(None, None, None)
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/v1/chat/completions",
                        json={"model": "m", "messages": [{"role": "user", "content": PROMPTS["billing"]}]},
                    )
                    for _ in range(100)
                )
            )
        assert [r.status_code for r in answers] == [200] * 100
        assert {r.headers["x-slipway-slot"] for r in answers} == {"blue"}
        assert all(r.json()["choices"][0]["message"]["content"].startswith("billing") for r in answers)
        if candidate == "dead":
            data = wait_for_pairs(gw, 100)
            assert data["mirror"]["candidate_errors"] >= 100
        else:
            # Every user has an answer while the copies sent to the candidate are still unanswered
            status = shadow_status(gw)
            assert status["mirror"]["sent"] >= 1 and status["pairs"] == 0, status["mirror"]
            green_ctx.__exit__(None, None, None)


async def test_a_run_ends_after_its_pairs_or_its_time_and_says_so(tmp_path: Path) -> None:
    clock = ManualClock()
    with shadow_story(tmp_path, clock=clock) as gw:
        out = deploy_shadow(gw, until="150-pairs")
        assert out["shadow"]["expires_at"] - out["shadow"]["started_at"] == 7 * DAY
        await traffic(gw.url, 200)
        deadline = time.monotonic() + 20
        while (run := shadow_status(gw)["shadow"])["status"] == "running":
            clock.advance(60)
            assert time.monotonic() < deadline, run
            time.sleep(0.05)
        assert run["status"] == "complete" and "150" in run["reason"]
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["mirror"] is None
        assert httpx.get(f"{gw.url}/admin/deployments").json()["deployments"][0]["status"] == "staged"
        n = shadow_status(gw)["pairs"]
        await traffic(gw.url, 50)
        assert shadow_status(gw)["pairs"] == n, "no pairs after the run ended"

        # A second run without a pair target expires after its 7 days. (Time moves first: the manual
        # clock may not have moved since the first run started, and "the latest run" is by start time.)
        clock.advance(1)
        deploy_shadow(gw)
        clock.advance(7 * DAY + 1)
        deadline = time.monotonic() + 20
        while (run := shadow_status(gw)["shadow"])["status"] == "running":
            assert time.monotonic() < deadline, run
            time.sleep(0.05)
        assert run["status"] == "expired" and "7 days" in run["reason"]


async def test_runs_longer_than_30_days_are_refused(tmp_path: Path) -> None:
    with shadow_story(tmp_path) as gw:
        r = httpx.post(
            f"{gw.url}/admin/deploy",
            json={"version": "v2.2", "strategy": "shadow", "slot": "green", "no_smoke": True, "until": "45d"},
        )
        assert r.status_code == 400 and "30 days" in r.json()["error"]["message"]


@pytest.mark.parametrize("via", ["bluegreen", "canary"])
async def test_a_shadow_is_promoted_through_bluegreen_or_canary(tmp_path: Path, via: str) -> None:
    with shadow_story(tmp_path, config_extra=QUICK_GO) as gw:
        deploy_shadow(gw)
        await traffic(gw.url, 200)
        wait_for_pairs(gw, 200)
        report = httpx.get(f"{gw.url}/admin/shadow/report", timeout=60).json()
        assert report["verdict"]["decision"] == "go", report["verdict"]
        body: dict[str, Any] = {"via": via, "steps": "10%:1h,100%"}
        if via == "bluegreen":
            # Canary options with a blue-green promotion are a mistake to name, not to ignore.
            wrong = httpx.post(f"{gw.url}/admin/shadow/promote", json=body, timeout=60)
            assert wrong.status_code == 400 and "--via canary" in wrong.json()["error"]["hint"], wrong.text
            assert shadow_status(gw)["shadow"]["status"] == "running"
            body = {"via": via}
        r = httpx.post(f"{gw.url}/admin/shadow/promote", json=body, timeout=60)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["shadow"]["status"] == "promoted" and out["shadow"]["promoted_via"] == via
        assert out["shadow"]["forced"] is None, "a go needs no force and records none"
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["mirror"] is None
        if via == "bluegreen":
            assert status["route"]["active"] == "green"
            assert await traffic(gw.url, 20, labels=False) == {"green": 20}
        else:
            assert status["route"]["weights_pct"] == {"blue": 90, "green": 10}
            assert httpx.get(f"{gw.url}/admin/canary").json()["canary"]["status"] == "running"
        again = httpx.post(f"{gw.url}/admin/shadow/promote", json={"via": via})
        assert again.status_code == 409 and "promoted already" in again.json()["error"]["message"]


@pytest.mark.parametrize("via", ["bluegreen", "canary"])
async def test_a_shadow_the_report_does_not_pass_is_promoted_only_when_forced_with_a_reason(
    tmp_path: Path, via: str
) -> None:
    from tests.processes import run_cli

    why = "billing fix ships in v2.3 [ops-12]; shipping needs v2.2 today"
    with webhook_receiver() as hook:
        notify = f'notify:\n  webhooks: ["{hook.url}"]\n  timeout_s: 2\n'
        with shadow_story(tmp_path, REGRESSED, config_extra=notify) as gw:
            # Given a shadow whose candidate gets billing wrong, stopped short of the 1,000 pairs
            deploy_shadow(gw)
            await traffic(gw.url, 300)
            wait_for_pairs(gw, 300)
            verdict = httpx.get(f"{gw.url}/admin/shadow/report", timeout=60).json()["verdict"]
            assert verdict["decision"] == "not yet", verdict
            assert any("already flagged: category = billing" in r for r in verdict["reasons"]), verdict

            # When the operator promotes it as usual, it is refused with the report's verdict and reasons
            refused = run_cli(gw.url, ["shadow", "promote", "--via", via])
            assert refused.returncode != 0, refused.stdout
            said = " ".join(refused.stderr.split())
            assert "verdict on v2.2 is NOT YET, so it was not promoted" in said, said
            assert "category = billing" in said and "pairs of the 1000 needed" in said, said
            assert 'add --force --reason "..." to promote anyway' in said, said
            api = httpx.post(f"{gw.url}/admin/shadow/promote", json={"via": via}, timeout=60)
            assert api.status_code == 409 and "NOT YET" in api.json()["error"]["message"], api.text
            assert shadow_status(gw)["shadow"]["status"] == "running", "a refusal leaves the shadow mirroring"

            # ...and forcing without saying why is refused too
            bare = httpx.post(f"{gw.url}/admin/shadow/promote", json={"via": via, "force": True}, timeout=60)
            assert bare.status_code == 400 and "--force needs a reason" in bare.json()["error"]["message"]
            long = httpx.post(
                f"{gw.url}/admin/shadow/promote", json={"via": via, "force": True, "reason": "x" * 1001}
            )
            assert long.status_code == 422, long.text

            # Then --force --reason promotes it, and says so
            out = run_cli(gw.url, ["shadow", "promote", "--via", via, "--force", "--reason", why])
            assert out.returncode == 0, out.stderr
            assert "forced over the shadow report's NOT YET" in " ".join(out.stdout.split()), out.stdout

            # ...in the run as saved,
            run = shadow_status(gw)["shadow"]
            assert run["status"] == "promoted" and run["forced"]["verdict"] == "not yet", run
            assert run["forced"]["why"] == why and run["forced"]["actor"].endswith("(cli)"), run
            assert "forced over the shadow report's NOT YET by" in run["reason"] and why in run["reason"]
            assert any("category = billing" in r for r in run["forced"]["reasons"]), run

            # ...in the route history (the mirror's stop, and the switch or the canary's start),
            changes = httpx.get(f"{gw.url}/admin/history").json()["changes"]
            table = run_cli(gw.url, ["history"], env={"COLUMNS": "1000"})
            assert table.returncode == 0 and why in table.stdout, table.stdout
            stop = next(c for c in changes if "promoting through" in c["reason"])
            assert f"forced over the shadow report's NOT YET by {run['actor']}: {why}" in stop["reason"]
            if via == "bluegreen":
                assert changes[0]["to_active"] == "green" and why in changes[0]["reason"], changes[0]
                assert "forced over the shadow report's NOT YET" in changes[0]["reason"], changes[0]
            else:
                assert changes[0]["kind"] == "canary", changes[0]
                assert changes[0]["actor"].endswith("(forced over the shadow report's NOT YET)"), changes[0]
                canary = httpx.get(f"{gw.url}/admin/canary").json()["canary"]
                assert "forced over the shadow report's NOT YET" in canary["reason"], canary

            # ...and in the notification: forced, over which verdict, by whom and why
            note = hook.wait_for("shadow.promoted")["slipway"]
            assert note["severity"] == "warning"
            assert f"forced over the report's NOT YET by {run['actor']}" in note["title"], note
            assert why in note["text"] and "category = billing" in note["text"], note
            assert note["facts"]["forced over"] == "NOT YET" and note["facts"]["why"] == why, note


async def test_a_running_shadow_blocks_other_deploys_until_stopped(tmp_path: Path) -> None:
    with shadow_story(tmp_path) as gw:
        deploy_shadow(gw)
        r = httpx.post(
            f"{gw.url}/admin/deploy",
            json={"version": "v2.3", "slot": "green", "no_smoke": True, "strategy": "canary"},
            timeout=30,
        )
        assert r.status_code == 409 and "shadow of v2.2 is mirroring" in r.json()["error"]["message"]
        stopped = httpx.post(f"{gw.url}/admin/shadow/stop", json={"reason": "enough"}).json()
        assert stopped["shadow"]["status"] == "stopped" and stopped["shadow"]["reason"] == "enough"
        r = httpx.post(
            f"{gw.url}/admin/deploy", json={"version": "v2.3", "slot": "green", "no_smoke": True}, timeout=30
        )
        assert r.status_code == 200, r.text


async def test_evaluation_cases_replayed_through_the_shadow_carry_their_labels_to_the_pairs(
    tmp_path: Path,
) -> None:
    from tests.processes import run_cli

    with shadow_story(tmp_path, REGRESSED) as gw:
        deploy_shadow(gw)
        cases = tmp_path / "eval.jsonl"
        lines = [
            {
                "id": f"{intent}-{i}",
                "prompt": f"{PROMPTS[intent]} #{i}",
                "category": intent,
                "expect": {"label": intent},
            }
            for intent in ("billing", "shipping")
            for i in range(20)
        ]
        cases.write_text("".join(json.dumps(line) + "\n" for line in lines))
        out = run_cli(gw.url, ["shadow", "replay", str(cases), "--repeat", "2"])
        assert out.returncode == 0, out.stderr
        assert "replayed 80 requests" in out.stdout and "80 labelled" in out.stdout
        wait_for_pairs(gw, 80)
        rows = [
            json.loads(x)
            for x in httpx.get(f"{gw.url}/admin/shadow/export", params={"sample": 80}).text.splitlines()
        ]
        assert len(rows) == 80 and all(r["label"] == r["category"] for r in rows)

        # The operator's views of the same run: the status table, and an export to a CSV file
        table = run_cli(gw.url, ["shadow", "status"])
        assert table.returncode == 0, table.stderr
        assert "v2.2" in table.stdout and "billing" in table.stdout and "running" in table.stdout
        out = run_cli(
            gw.url, ["shadow", "export", "--sample", "10", "--format", "csv", "-o", str(tmp_path / "r.csv")]
        )
        assert out.returncode == 0, out.stderr
        review = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
        assert len(review) == 10 and {"reviewer_choice", "production_answer", "candidate_answer"} <= set(
            review[0]
        )


async def test_an_llm_judge_configured_for_the_report_prefers_production_where_the_candidate_regressed(
    tmp_path: Path,
) -> None:
    from tests.fakes.judge_protocol import FakeJudge
    from tests.servers import run_asgi

    # A FAKE judge (tests/fakes/judge_protocol.py) that prefers the answer saying "billing"
    judge = FakeJudge("keyword", keyword="billing")
    with (
        run_asgi(judge.app) as judge_url,
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2", extra=REGRESSED), seed=1) as green,
    ):
        extra = f"""\
            shadow:
              scorers: [normalized, judge]
              judge: {{endpoint: "{judge_url}", model: judge-model, max_pairs: 60}}
            """
        with live_gateway(tmp_path, routing_yaml(blue, green, extra=extra)) as gw:
            deploy_shadow(gw)
            await traffic(gw.url, 300)
            wait_for_pairs(gw, 300)
            report = httpx.get(f"{gw.url}/admin/shadow/report", timeout=120).json()
    preference = report["preference"]
    assert preference is not None and 0 < preference["judged"] <= 60, preference
    assert preference["losses"] > 0 and preference["wins"] == 0, preference
    assert len(judge.requests) == 2 * preference["judged"] + 2 * preference["no_verdict"], "both orders asked"
