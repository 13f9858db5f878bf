"""The pre-deployment checklist, end to end: a real gateway, sim backends, the CLI as a user runs it.

Each required item that fails refuses the deploy by itself (non-zero exit,
the item named with its fix, traffic and the standby slot untouched); a
waiver with a reason lets the deploy go on and is kept in the route history,
the deployment and the checklist record.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from tests.e2e.canary_story import traffic
from tests.harness import Gateway, live_gateway, sim_backend, sim_profile
from tests.pg import fresh_schema
from tests.processes import run_cli, slipway_serve
from tests.webhooks import Hook, webhook_receiver

from slipway.core.records import RequestRecord


class Served(Protocol):
    """A gateway to talk to: in this process (`live_gateway`) or a `slipway serve` subprocess."""

    url: str


SMOKE = "\n".join(
    json.dumps({"id": f"{label}-{i}", "prompt": f"{word} question {i}", "expect": {"label": label}})
    for i in range(3)
    for label, word in (("billing", "refund"), ("shipping", "parcel"))
)


def slow(latency_ms: int) -> str:
    """A profile line overriding the sim's default latency (every category answers this slowly)."""
    return sim_profile("cs", "v", extra="").replace("latency_ms: 1", f"latency_ms: {latency_ms}")


def config(blue: str, green: str, *, required: str | None, hook: str | None, bake: bool = False) -> str:
    """`required`: None leaves the `checklist:` section out, as in a config written before it existed."""
    notify = f"notify: {{webhooks: ['{hook}'], retries: 0}}\n" if hook else ""
    return (
        textwrap.dedent(
            f"""\
            name: customer-support
            active_slot: blue
            slots:
              blue: {{model: cs-v2.1, endpoint: "{blue}", kind: sim}}
              green: {{model: cs-v2.0, endpoint: "{green}", kind: sim}}
            bake: {{after_switch: {str(bake).lower()}}}
            """
        )
        + (
            f"checklist: {{required: {required}, latency_p50_max: 3, latency_p95_max: 3, "
            "latency_requests: 8}\n"
            if required is not None
            else ""
        )
        + notify
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The gateway's store: its SQLite file (None), or a fresh schema on a real PostgreSQL."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@contextlib.contextmanager
def story(
    tmp_path: Path,
    *,
    required: str | None,
    candidate_ms: int = 20,
    hook: Hook | None = None,
    bake: bool = False,
    store_url: str | None = None,
) -> Iterator[Any]:
    """Production v2.1 in blue, an old v2.0 in green (standby), and a candidate v2.2 server."""
    with (
        sim_backend(slow(20)) as blue,
        sim_backend(slow(20)) as green,
        sim_backend(slow(candidate_ms)) as candidate,
        live_gateway(
            tmp_path,
            config(blue, green, required=required, hook=hook.url if hook else None, bake=bake),
            store_url=store_url,
        ) as gw,
    ):
        yield gw, candidate


def deploy(gw: Served, tmp_path: Path, candidate: str, *args: str) -> Any:
    smoke = tmp_path / "smoke.jsonl"
    smoke.write_text(SMOKE + "\n")
    target = ["--slot", "green", "--endpoint", candidate, "--model", "cs-v2.2"]
    return run_cli(gw.url, ["deploy", "v2.2", *target, "--smoke", str(smoke), *args])


def status(gw: Served) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{gw.url}/admin/status", timeout=30).json()
    return data


def assert_untouched(gw: Gateway) -> None:
    st = status(gw)
    assert st["route"]["active"] == "blue" and not st["route"]["weights_pct"]
    green = next(s for s in st["slots"] if s["name"] == "green")
    assert green["model"] == "cs-v2.0", "a refused candidate must not stay where the old standby was"


# Each item, alone required, with what makes it fail in this story (the default story fails it).
REFUSALS = [
    ("evaluation", "no evaluation suite is stored"),
    ("drill", "no rollback drill has passed"),
    ("monitoring", "no notification sink is configured"),
    ("owner", "no owner named and no automated rollback"),
    ("announced", "no announcement of v2.2 was delivered"),
]


@pytest.mark.parametrize(("item", "evidence"), REFUSALS)
def test_each_failed_required_item_refuses_the_deploy(tmp_path: Path, item: str, evidence: str) -> None:
    with story(tmp_path, required=f"[{item}]") as (gw, candidate):
        out = deploy(gw, tmp_path, candidate)
        assert out.returncode == 1, out.stdout + out.stderr
        text = " ".join(out.stderr.split())
        assert f"{item} (" in text and evidence in text and "Fix:" in text, text
        assert "no traffic moved" in text and "--waive ITEM" in text
        assert_untouched(gw)
        deps = httpx.get(f"{gw.url}/admin/deployments", timeout=30).json()["deployments"]
        assert deps[0]["status"] == "checklist_failed"
        assert deps[0]["detail"]["checklist"]["passed"] is False
        kept = httpx.get(f"{gw.url}/admin/checklists", params={"version": "v2.2"}, timeout=30).json()
        [record] = kept["checklists"]
        [mine] = [i for i in record["items"] if i["item"] == item]
        assert (mine["status"], mine["required"]) == ("fail", True)


def test_a_slow_candidate_is_refused_on_latency(tmp_path: Path) -> None:
    with story(tmp_path, required="[latency]", candidate_ms=400) as (gw, candidate):
        out = deploy(gw, tmp_path, candidate)
        assert out.returncode == 1, out.stdout + out.stderr
        text = " ".join(out.stderr.split())
        assert "latency (" in text and "over the bound: p50" in text and "smoke cases" in text, text
        assert_untouched(gw)


def test_a_production_that_does_not_answer_refuses_the_deploy(tmp_path: Path) -> None:
    with (
        sim_backend(slow(20)) as green,
        sim_backend(slow(20)) as candidate,
    ):
        with sim_backend(slow(20)) as blue:
            yaml = config(blue, green, required="[previous_version]", hook=None)
        # blue's server has stopped: the version a rollback would go back to is gone.
        with live_gateway(tmp_path, yaml) as gw:
            out = deploy(gw, tmp_path, candidate)
            assert out.returncode == 1, out.stdout + out.stderr
            text = " ".join(out.stderr.split())
            assert "previous_version (" in text and "did not answer a probe" in text, text
            assert "bring blue's backend back" in text


def test_a_waiver_needs_a_reason_and_names_the_items(tmp_path: Path) -> None:
    with story(tmp_path, required="all") as (gw, candidate):
        out = deploy(gw, tmp_path, candidate, "--waive", "drill")
        assert out.returncode == 2 and "needs a reason" in out.stdout + out.stderr
        out = deploy(gw, tmp_path, candidate, "--waive", "dril", "--reason", "typo")
        assert out.returncode == 2 and "the items are: evaluation" in out.stdout + out.stderr
        resp = httpx.post(
            f"{gw.url}/admin/deploy",
            json={"version": "v2.2", "no_smoke": True, "waivers": {"drill": "  "}},
            timeout=30,
        )
        assert resp.status_code == 422 and "reason for waiving drill is empty" in resp.text
        assert_untouched(gw)


def test_waivers_let_the_deploy_go_on_and_are_recorded(tmp_path: Path, store_url: str | None) -> None:
    with (
        webhook_receiver() as hook,
        story(tmp_path, required="all", hook=hook, bake=True, store_url=store_url) as (gw, candidate),
    ):
        refused = deploy(gw, tmp_path, candidate)
        assert refused.returncode == 1
        # The operator does what the fixes say for monitoring, the owner and the announcement...
        assert run_cli(gw.url, ["notify", "test"]).returncode == 0
        staged = deploy(gw, tmp_path, candidate, "--no-switch")
        assert staged.returncode == 0, staged.stderr
        announced = run_cli(
            gw.url,
            [
                "checklist",
                "v2.2",
                "--announce",
                "--window",
                "now",
                "--smoke",
                str(tmp_path / "smoke.jsonl"),
                "--json",
            ],
        )
        assert announced.returncode == 1, "evaluation and the drill still fail"
        items = {i["item"]: i for i in json.loads(announced.stdout)["items"]}
        assert items["announced"]["status"] == "pass", items["announced"]
        assert items["monitoring"]["status"] == "pass", items["monitoring"]
        assert items["latency"]["status"] == "pass", items["latency"]
        assert items["model_file"]["status"] == "n/a" and items["canary_plan"]["status"] == "n/a"
        assert hook.wait_for("deploy.announced")["slipway"]["event"] == "deploy.announced"

        # ...and accepts the rest knowingly.
        why = "suites land next sprint; drill booked for Monday"
        out = deploy(
            gw, tmp_path, candidate, "--owner", "ana",
            "--waive", "evaluation", "--waive", "drill", "--reason", why,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert "deployed v2.2" in out.stdout and "waived" in out.stdout
        assert status(gw)["route"]["active"] == "green"

        history = httpx.get(f"{gw.url}/admin/history", timeout=30).json()["changes"]
        switch = next(c for c in history if c["kind"] == "deploy")
        assert f"drill waived ({why})" in switch["reason"] and "checklist passed" in switch["reason"]
        dep = httpx.get(f"{gw.url}/admin/deployments", timeout=30).json()["deployments"][0]
        assert (
            dep["status"] == "live" and f"evaluation waived ({why})" in dep["detail"]["checklist"]["waivers"]
        )
        latest = status(gw)["checklist"]
        assert latest["passed"] is True and latest["id"] == dep["detail"]["checklist"]["id"]
        waived = {i["item"]: i["waiver"] for i in latest["items"] if i["status"] == "waived"}
        assert waived == {"evaluation": why, "drill": why}
        regression = next(i for i in latest["items"] if i["item"] == "regression")
        assert regression["status"] == "n/a", "no must-pass case yet: nothing to hold, nothing to waive"
        owner = next(i for i in latest["items"] if i["item"] == "owner")
        assert owner["status"] == "pass" and "ana" in owner["evidence"]


#: The profile's categories again, with billing always wrong (this `categories:` replaces the profile's).
BAD_BILLING = """\
categories:
  billing: {keywords: [refund, invoice], accuracy: 0.0}
  shipping: {keywords: [parcel, delivery]}
"""

SUITE = "\n".join(
    json.dumps(
        {
            "id": f"{label}-{i}",
            "prompt": f"{word} case {i}",
            "expect": {"label": label},
            "category": label,
            "origin": "the rollback of v2.1's billing flaw",
            "must_pass": label == "billing",
        }
    )
    for i in range(4)
    for label, word in (("billing", "refund"), ("shipping", "parcel"))
)


def test_a_candidate_that_fails_the_regression_cases_is_refused_and_a_fixed_one_ships(tmp_path: Path) -> None:
    suite = tmp_path / "regressions.jsonl"
    suite.write_text(SUITE + "\n")
    flawed = sim_profile("cs", "v2.2", extra=BAD_BILLING).replace("latency_ms: 1", "latency_ms: 20")
    with (
        sim_backend(flawed) as bad,
        story(tmp_path, required="[evaluation, regression]") as (gw, good),
    ):
        added = run_cli(gw.url, ["eval", "add", "regressions", str(suite)])
        assert added.returncode == 0, added.stdout + added.stderr
        # The smoke test has no billing case that this flaw trips, so only the suite can stop it.
        smoke = tmp_path / "smoke.jsonl"
        smoke.write_text(
            json.dumps({"id": "ship", "prompt": "parcel late", "expect": {"label": "shipping"}}) + "\n"
        )
        target = ["--slot", "green", "--model", "cs-v2.2", "--smoke", str(smoke)]
        out = run_cli(gw.url, ["deploy", "v2.2", *target, "--endpoint", bad])
        assert out.returncode == 1, out.stdout + out.stderr
        text = " ".join(out.stderr.split())
        assert "regression (" in text and "4 must-pass cases failed (regressions: 4)" in text, text
        assert "evaluation (" in text and "1 of 1 suites failed their gate" in text, text
        assert_untouched(gw)

        fixed = run_cli(gw.url, ["deploy", "v2.3", *target, "--endpoint", good])
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert status(gw)["route"]["active"] == "green"
        items = {i["item"]: i for i in status(gw)["checklist"]["items"]}
        assert items["evaluation"]["status"] == "pass" and "regressions v1" in items["evaluation"]["evidence"]
        assert items["regression"]["status"] == "pass", items["regression"]
        assert "all 4 must-pass cases passed" in items["regression"]["evidence"]
        runs = httpx.get(f"{gw.url}/admin/evals/runs", timeout=30).json()
        assert len(runs["runs"]) == 2, "each deploy's checklist ran the suite once, and kept the run"


def test_a_canary_deploy_carries_its_checklist_into_the_route_history_and_the_notification(
    tmp_path: Path,
) -> None:
    with (
        webhook_receiver() as hook,
        story(tmp_path, required="[canary_plan, owner]", hook=hook) as (gw, candidate),
    ):
        out = deploy(gw, tmp_path, candidate, "--strategy", "canary", "--steps", "5%:2h,100%")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "canary started" in out.stdout
        items = {i["item"]: i for i in status(gw)["checklist"]["items"]}
        assert items["canary_plan"]["status"] == "pass" and "5%:2h,100%" in items["canary_plan"]["evidence"]
        assert (
            items["owner"]["evidence"] == "no owner named, but the canary's checks roll it back by themselves"
        )
        history = httpx.get(f"{gw.url}/admin/history", timeout=30).json()["changes"]
        started = next(c for c in history if c["kind"] == "canary")
        assert "checklist passed (" in started["reason"], started["reason"]
        note = hook.wait_for("canary.started")
        assert "checklist passed (" in json.dumps(note), note


def test_after_an_upgrade_a_deploy_goes_on_and_says_what_to_add(tmp_path: Path) -> None:
    # A config from before the checklist: no `checklist:` section, no sink, no suite, no drill, bake off.
    with story(tmp_path, required=None) as (gw, candidate):
        out = deploy(gw, tmp_path, candidate)
        assert out.returncode == 0, out.stdout + out.stderr
        text = " ".join(out.stdout.split())
        assert "deployed v2.2" in text and status(gw)["route"]["active"] == "green"
        assert "checklist passed" in text
        assert (
            "warning: 5 checklist items failed that your config does not require "
            "(evaluation, drill, monitoring, owner, announced); their fixes are above" in text
        ), text
        assert "checklist.required: all" in text
        dep = httpx.get(f"{gw.url}/admin/deployments", timeout=30).json()["deployments"][0]
        fixes = " ".join(str(i["fix"]) for i in dep["detail"]["checklist"]["items"] if i["status"] == "fail")
        for fix in ("slipway eval add", "slipway drill", "slipway notify test", "--owner NAME", "--announce"):
            assert fix in fixes, fix
        required = {i["item"] for i in dep["detail"]["checklist"]["items"] if i["required"]}
        assert required == {"regression", "model_file", "previous_version"}
        shown = run_cli(gw.url, ["status"])
        assert shown.returncode == 0 and "last checklist: v2.2 in green passed (2 pass" in shown.stdout, (
            shown.stdout
        )


def test_a_version_staged_past_a_failed_checklist_is_not_switched_in_until_it_passes(tmp_path: Path) -> None:
    with story(tmp_path, required="[drill]") as (gw, candidate):
        staged = deploy(gw, tmp_path, candidate, "--no-switch")
        assert staged.returncode == 0, staged.stdout + staged.stderr
        said = " ".join(staged.stdout.split())
        assert "checklist failed" in said and "staged only, so nothing was refused" in said, said

        refused = run_cli(gw.url, ["switch", "green", "--reason", "looks fine"])
        assert refused.returncode == 1, refused.stdout + refused.stderr
        text = " ".join(refused.stderr.split())
        assert "latest pre-deployment checklist of v2.2 in green failed" in text and "drill (" in text, text
        assert "slipway checklist v2.2 --slot green" in text
        assert status(gw)["route"]["active"] == "blue"

        why = "drill booked for Monday"
        checked = run_cli(
            gw.url, ["checklist", "v2.2", "--slot", "green", "--waive", "drill", "--reason", why]
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        switched = run_cli(gw.url, ["switch", "green", "--reason", "checked"])
        assert switched.returncode == 0, switched.stdout + switched.stderr
        assert status(gw)["route"]["active"] == "green"
        # Back to blue is a rollback target, never held by a checklist.
        back = run_cli(gw.url, ["switch", "blue", "--reason", "back"])
        assert back.returncode == 0, back.stdout + back.stderr


def test_a_real_drill_is_the_evidence_the_drill_item_needs(tmp_path: Path) -> None:
    with (
        sim_backend(slow(20)) as blue,
        sim_backend(slow(20)) as green,
        sim_backend(slow(20)) as candidate,
    ):
        (tmp_path / "slipway.yaml").write_text(config(blue, green, required="[drill]", hook=None))
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as served:
            refused = deploy(served, tmp_path, candidate)
            assert refused.returncode == 1 and "no rollback drill has passed" in " ".join(
                refused.stderr.split()
            )
            drilled = run_cli(served.url, ["drill", "--slot", "green", "--requests", "5"])
            assert drilled.returncode == 0, drilled.stdout + drilled.stderr
            out = deploy(served, tmp_path, candidate)
            assert out.returncode == 0, out.stdout + out.stderr
            items = {i["item"]: i for i in status(served)["checklist"]["items"]}
            assert (
                items["drill"]["status"] == "pass"
                and "drill on slot green passed just now" in items["drill"]["evidence"]
            )


@pytest.mark.parametrize("strategy", ["canary", "shadow"])
def test_a_canary_or_a_shadow_is_refused_before_it_gets_any_traffic(tmp_path: Path, strategy: str) -> None:
    with story(tmp_path, required="[drill]") as (gw, candidate):
        out = deploy(gw, tmp_path, candidate, "--strategy", strategy)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "drill (" in " ".join(out.stderr.split())
        assert_untouched(gw)
        st = status(gw)
        assert st["canary"] is None and st["shadow"] is None and st["route"]["mirror"] is None


def test_a_shadow_carries_its_checklist_into_the_route_history(tmp_path: Path) -> None:
    with story(tmp_path, required="[owner]") as (gw, candidate):
        out = deploy(gw, tmp_path, candidate, "--strategy", "shadow")
        assert out.returncode == 0, out.stdout + out.stderr
        history = httpx.get(f"{gw.url}/admin/history", timeout=30).json()["changes"]
        mirrored = next(c for c in history if c["kind"] == "shadow")
        assert "checklist passed (" in mirrored["reason"], mirrored["reason"]
        owner = next(i for i in status(gw)["checklist"]["items"] if i["item"] == "owner")
        assert owner["evidence"] == "no owner named, but a shadow run serves no user"


def test_the_canary_plan_judged_by_hand_takes_the_steps_and_interval_given(tmp_path: Path) -> None:
    with story(tmp_path, required=None) as (gw, candidate):
        assert deploy(gw, tmp_path, candidate, "--no-switch").returncode == 0
        plan = ["checklist", "v2.2", "--strategy", "canary", "--steps", "5%:2h,100%", "--json"]

        judged = run_cli(gw.url, [*plan, "--interval", "30m"])
        nonsense = run_cli(gw.url, [*plan, "--interval", "soon"])

        items = {i["item"]: i for i in json.loads(judged.stdout)["items"]}
        assert "5%:2h,100%" in items["canary_plan"]["evidence"], items["canary_plan"]
        # A plan that cannot be read is the item's failure, in words (it is not required here).
        items = {i["item"]: i for i in json.loads(nonsense.stdout)["items"]}
        assert items["canary_plan"]["status"] == "fail" and "soon" in items["canary_plan"]["evidence"], items


async def test_a_canary_plan_too_short_for_the_traffic_is_refused_and_a_waiver_starts_it(
    tmp_path: Path,
) -> None:
    with story(tmp_path, required="[canary_plan]") as (gw, candidate):
        # Given a gateway that served 60 requests in its last hour (about 1,400 a day), as recorded
        await served_before(gw, 60, 3600)
        plan = ["--strategy", "canary", "--steps", "5%:2h,100%"]

        # When a canary whose first phase would see about 6 of them is deployed, it is refused
        out = deploy(gw, tmp_path, candidate, *plan)
        assert out.returncode == 1, out.stdout + out.stderr
        text = " ".join(out.stderr.split())
        assert "canary_plan (" in text and "sends the candidate about 6 requests" in text, text
        assert "use --steps 5%:" in text and "no traffic moved" in text, text
        assert_untouched(gw)
        st = status(gw)
        assert st["canary"] is None, st["canary"]
        history = httpx.get(f"{gw.url}/admin/history", timeout=30).json()["changes"]
        assert not [c for c in history if c["kind"] == "canary" or c.get("weights_pct")], history
        deps = httpx.get(f"{gw.url}/admin/deployments", timeout=30).json()["deployments"]
        assert (deps[0]["strategy"], deps[0]["status"]) == ("canary", "checklist_failed"), deps[0]
        # ...and no user request reaches the candidate, then or after.
        assert await traffic(gw.url, 20, labels=False) == {"blue": 20}
        assert await user_requests(gw, "green") == []

        # When the operator waives it knowingly, the canary starts and the waiver is kept
        why = "a quiet week; the plan is stretched by hand if the phase is inconclusive"
        out = deploy(gw, tmp_path, candidate, *plan, "--waive", "canary_plan", "--reason", why)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "canary started" in out.stdout and "waived" in out.stdout
        history = httpx.get(f"{gw.url}/admin/history", timeout=30).json()["changes"]
        started = next(c for c in history if c["kind"] == "canary")
        assert f"canary_plan waived ({why})" in started["reason"], started["reason"]
        dep = httpx.get(f"{gw.url}/admin/deployments", timeout=30).json()["deployments"][0]
        assert dep["status"] != "checklist_failed", dep
        assert f"canary_plan waived ({why})" in dep["detail"]["checklist"]["waivers"], dep["detail"]
        [item] = [i for i in status(gw)["checklist"]["items"] if i["item"] == "canary_plan"]
        assert (item["status"], item["waiver"]) == ("waived", why), item


async def served_before(gw: Gateway, n: int, over_s: float) -> None:
    """n requests to blue, evenly over the last `over_s` seconds, as the recorder would have stored them."""
    store = gw.runtime.store
    assert store is not None
    now = time.time()
    await store.write_records(
        [
            RequestRecord(
                f"past{i:06d}", now - over_s + i * over_s / n, "blue", "v2.1", "openai_chat", False, 1
            )
            for i in range(n)
        ]
    )


async def user_requests(gw: Gateway, slot: str) -> list[str]:
    """The ids of the user requests the gateway recorded as served by `slot`."""
    store, recorder = gw.runtime.store, gw.runtime.recorder
    assert store is not None and recorder is not None
    await recorder.flush()
    return [r.request_id for r in await store.list_requests(since=0.0, slot=slot)]
