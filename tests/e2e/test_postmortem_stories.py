"""After an automatic rollback: the postmortem, and the failing answers as regression cases (PR1, PR2).

Everything is real except time: two sim model servers, slipway on loopback
with its SQLite store, traffic through the gateway with the official HTTP
client and labels sent later as feedback, a webhook receiver, the `slipway`
CLI as a subprocess. The candidate, v2.2, is fine on short billing tickets
and on shipping, and wrong on most billing tickets with a pasted JSON
invoice: the postmortem must name billing and inputs with JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.clock import ManualClock
from tests.e2e.canary_story import check_after, deploy_canary, story
from tests.e2e.ticket_story import EMAIL, FAILS_ON_JSON, send_tickets
from tests.harness import Gateway
from tests.processes import run_cli
from tests.webhooks import Hook, webhook_receiver


def evaluation_cases() -> list[dict[str, Any]]:
    """What v2.2 was evaluated on: short billing tickets (no pasted invoice) and shipping ones."""
    billing = [
        {
            "id": f"billing-{i}",
            "prompt": f"please refund order #{i}",
            "category": "billing",
            "expect": {"label": "billing"},
        }
        for i in range(6)
    ]
    shipping = [
        {
            "id": f"shipping-{i}",
            "prompt": f"where is my parcel #{i}",
            "category": "shipping",
            "expect": {"label": "shipping"},
        }
        for i in range(54)
    ]
    return billing + shipping


async def traffic(gw: Gateway, n: int) -> dict[str, int]:
    """`n` chats through the gateway with a label each; the gateway keeps their inputs."""
    served, bodies = await send_tickets(gw, n)
    store, recorder = gw.runtime.store, gw.runtime.recorder
    assert store is not None and recorder is not None
    await recorder.flush()
    # The gateway kept what each request asked, with its body (what regression cases are rebuilt from)
    kept = await store.request_inputs(list(bodies))
    assert set(kept) == set(bodies)
    for rid, body in bodies.items():
        assert kept[rid].input_text == body["messages"][0]["content"] and kept[rid].turns == 1
        request = kept[rid].request
        assert request is not None and request["messages"] == body["messages"]
    return served


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_receiver() as h:
        yield h


def cli_json(gw: Gateway, args: list[str]) -> dict[str, Any]:
    done = run_cli(gw.url, args, env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


async def test_after_an_automatic_rollback_the_postmortem_names_billing_and_json_inputs_and_cases_follow(
    tmp_path: Path, hook: Hook
) -> None:
    clock = ManualClock()
    for gw in story(tmp_path, hook, clock, FAILS_ON_JSON):
        # Given v2.2 ran as a canary at 20 %, passed an evaluation suite with 6 (short) billing cases of 60,
        # and was rolled back by its first check
        deployed = deploy_canary(gw, "20%:2h,100%")
        dep = deployed["deployment"]["id"]
        suite_file = tmp_path / "core.jsonl"
        suite_file.write_text("".join(json.dumps(case) + "\n" for case in evaluation_cases()))
        evaluated = run_cli(gw.url, ["eval", "run", str(suite_file), "--slot", "green", "--against", "blue"])
        assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
        served = await traffic(gw, 800)
        assert served.get("green", 0) > 80
        data = check_after(gw, clock, 15)
        assert data["canary"]["status"] == "rolled_back", data["canary"]

        # Then the on-call engineer's notification carries the postmortem's headline and how to open it
        note = json.dumps(hook.wait_for("canary.rolled_back"))
        assert f"Open it with: slipway postmortem {dep}" in note
        assert "Postmortem: v2.2 failed billing" in note and "inputs with JSON" in note

        # And `slipway canary status` points at the postmortem
        shown = run_cli(gw.url, ["canary", "status"], env={"COLUMNS": "250"})
        assert shown.returncode == 0 and f"slipway postmortem {dep}" in shown.stdout, shown.stderr

        # And `slipway deployments` lists it with its id, rolled back
        listed = run_cli(gw.url, ["deployments"], env={"COLUMNS": "200"})
        assert listed.returncode == 0, listed.stderr
        assert dep in listed.stdout and "rolled_back" in listed.stdout

        # When they open the postmortem (the latest rolled-back deployment by default)
        pm = cli_json(gw, ["postmortem", "--json"])

        # Then it names billing and the input pattern that failed, with the tests behind them
        assert pm["deployment_id"] == dep and pm["rollout"]["status"] == "rolled_back"
        significant = {(f["dimension"], f["value"]) for f in pm["findings"] if f["significant"]}
        assert ("category", "billing") in significant and ("json", "yes") in significant
        assert ("category", "shipping") not in significant
        assert "billing" in pm["headline"] and "inputs with JSON" in pm["headline"]
        wrong = {c["category"]: c["wrong"] for c in pm["answers"]["categories"]}
        assert wrong["billing"] > 20 and wrong.get("shipping", 0) == 0
        # The blast radius: what the candidate served, to how many users, per category
        blast = pm["blast_radius"]
        assert blast["requests"] == served["green"] and 0 < blast["sticky_keys"] <= 50
        assert {c["category"] for c in blast["categories"]} == {"billing", "shipping"}
        # The timeline has the check and the rollback; the advice has the commands to run
        kinds = [t["kind"] for t in pm["timeline"]]
        assert "canary check" in kinds and "canary rollback" in kinds and "route rollback" in kinds
        commands = [a["command"] for a in pm["advice"] if a["command"]]
        assert f"slipway regressions add --from {dep}" in commands
        # Why evaluation missed it, and how the input mix moved since
        assert "evaluation missed it: suite core v1 had no cases of inputs with JSON" in pm["cause"]
        assert "evaluation missed it: suite core v1 had 6 cases in billing and passed" in pm["cause"]
        assert pm["mix"]["reference"] == "since v2.2's evaluation"
        assert any(
            re.fullmatch(r"billing rose from 10% to \d+% of traffic since v2.2's evaluation", line)
            for line in pm["cause"]
        )
        assert pm["advice"][0]["text"].startswith("the evaluation suite had 6 billing cases; add these ")

        # And the operator sets when to retry; the postmortem says it from then on
        day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%d")
        planned = cli_json(gw, ["postmortem", "--retry", day, "--json"])
        assert planned["retry"] == f"retry planned for {day} 00:00 UTC"

        # And the table form and one self-contained HTML file, with client text escaped
        page = tmp_path / "postmortem.html"
        shown = run_cli(gw.url, ["postmortem", dep, "--html", str(page)], env={"COLUMNS": "200"})
        assert shown.returncode == 0, shown.stderr
        assert "Suspected cause" in shown.stdout and "billing" in shown.stdout
        html = page.read_text()
        assert html.startswith("<!DOCTYPE html>") and "inputs with JSON" in html
        assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "http://" not in html and "https://" not in html

        # When the failing answers become regression cases, with e-mail addresses redacted
        added = cli_json(gw, ["regressions", "add", "--from", dep, "--redact", EMAIL, "--json"])

        # Then each distinct failing input is one must-pass case, redacted, saying where it came from
        cases = added["cases"]
        assert added["suite"] == "regressions" and added["version"] == 1 and added["added"] == len(cases) > 3
        assert added["skipped"].get("duplicates of another failing input", 0) > 0
        texts = [c["messages"][0]["content"] for c in cases]
        assert len(set(texts)) == len(texts)
        assert not any(re.search(EMAIL, t) for t in texts) and all("[redacted]" in t for t in texts)
        for case in cases:
            assert case["must_pass"] is True and case["expect"] == {"label": "billing"}
            assert case["category"] == "billing"
            assert f"deployment {dep}, request " in case["origin"] and "v2.2 answered" in case["origin"]
            assert "the right label is 'billing'" in case["origin"]
        store = gw.runtime.store
        assert store is not None
        suite = await store.get_suite("regressions")
        assert (
            suite is not None
            and suite.version == 1
            and [c["id"] for c in suite.cases] == [c["id"] for c in cases]
        )

        # And adding them again adds nothing: they are already in the suite
        again = cli_json(gw, ["regressions", "add", "--from", dep, "--redact", EMAIL, "--json"])
        assert again["added"] == 0 and again["version"] == 1
        duplicates = added["skipped"]["duplicates of another failing input"]
        assert again["skipped"] == {"already in the suite": len(cases) + duplicates}

        # And three adds at once into another suite save every case exactly once: each add builds on
        # the version it read, and one that lost the race is built again on the winner's
        async with httpx.AsyncClient(base_url=gw.url, timeout=60) as client:
            body = {"from": dep, "suite": "racing", "redact": [EMAIL]}
            raced = await asyncio.gather(*(client.post("/admin/regressions", json=body) for _ in range(3)))
        assert all(r.status_code == 200 for r in raced), [r.text for r in raced]
        assert sorted(r.json()["added"] for r in raced) == [0, 0, len(cases)]
        racing = await store.get_suite("racing")
        assert racing is not None and racing.version == 1
        assert sorted(c["id"] for c in racing.cases) == sorted(c["id"] for c in cases)

        # And the regression suite now stops v2.2: its must-pass cases fail on it (and pass on v2.1)
        blocked = run_cli(
            gw.url, ["eval", "run", "regressions", "--slot", "green", "--against", "blue", "--json"]
        )
        assert blocked.returncode == 1, blocked.stderr
        (run,) = json.loads(blocked.stdout)["runs"]
        assert run["passed"] is False and run["result"]["must_pass_failed"] > 0
        # (and the postmortem still quotes what v2.2 was evaluated on before, not this later run)
        assert cli_json(gw, ["postmortem", dep, "--json"])["evaluation"]["suite"] == "core"

        # And the export is training data: chat messages ending in the right label, one per line
        out = tmp_path / "retrain.jsonl"
        done = run_cli(gw.url, ["regressions", "export", "--from", dep, "--redact", EMAIL, "-o", str(out)])
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == len(cases)
        for row in rows:
            assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
            assert (
                row["messages"][-1]["content"] == "billing"
                and "@example.com" not in row["messages"][0]["content"]
            )
