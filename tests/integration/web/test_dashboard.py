"""The dashboard in a real browser: the split, one-click rollback, the token prompt, a canary over time (OP2).

Why a browser: `GET /dashboard` is a static page whose every figure comes from
the admin API by `fetch`, polled every second. Only a browser running its
script shows whether the API's numbers reach the right cells, whether the
token prompt lets an operator in (and keeps a wrong token out), and whether a
click really moves traffic and is recorded as done by "dashboard".
Everything behind the page is real: sim model servers, slipway on loopback
with its SQLite store; only the canary's clock is moved by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.clock import ManualClock
from tests.e2e.canary_story import check_after, deploy_canary, traffic
from tests.e2e.test_drift_stories import drift_after_a_check
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.processes import free_port
from tests.servers import run_asgi

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page, Request

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
#: The page polls every second: a few polls at most before a figure must be on screen.
SEEN_MS = 5_000
TOKEN = "s3cret"
WEIGHTED = "weights: {blue: 80, green: 20}\n"
#: v2.2 answers billing wrong 60 % of the time (as in tests/e2e/test_canary_stories.py).
BAD_BILLING = """\
categories:
  billing: {keywords: [refund, invoice], accuracy: 0.4}
"""
#: An accuracy drop holds the canary for investigation instead of rolling it back at the first check,
#: so it is still running after two checks: the chart has two points and the abort button is shown.
HOLD_ON_ACCURACY = """\
canary:
  thresholds:
    accuracy: {action: investigate}
"""
#: At least two points in an SVG path's `d`: four numbers or more.
TWO_POINTS = re.compile(r"(?:-?\d*\.?\d+(?:[eE][-+]?\d+)?[^\d.]+){3}-?\d*\.?\d+")
#: What a page says when a token is refused.
REFUSED = re.compile(r"wrong|invalid|incorrect|rejected|refused|denied|unauthori[sz]ed|forbidden|401", re.I)


@pytest.fixture
def pw() -> Any:
    """The Playwright sync API module, or a skip without Playwright or Debian's Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("needs Chromium at /usr/bin/chromium (scripts/debian-packages tests)")
    return sync_api


@dataclass
class Dashboard:
    page: Page
    #: Every URL the page requested, in order.
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def dashboard(sync_api: Any, gw: Gateway) -> Iterator[Dashboard]:
    """`GET /dashboard` in headless Chromium, without any token; closed before the gateway stops."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            d = Dashboard(browser.new_page())
            d.page.on("request", lambda r: d.requests.append(r.url))
            response = d.page.goto(f"{gw.url}/dashboard")
            assert response is not None and response.status == 200, response and response.status
            assert response.headers["content-type"].startswith("text/html"), response.headers
            yield d
        finally:
            browser.close()


def accept(seen: list[str]) -> Any:
    def handle(dialog: Dialog) -> None:
        seen.append(dialog.type)
        dialog.accept()

    return handle


def test_the_page_shows_the_split_as_the_admin_api_reports_it_and_calls_only_the_gateway(
    tmp_path: Path, blue_url: str, green_url: str, pw: Any
) -> None:
    expect = pw.expect
    # Given a gateway without an admin token splitting 80/20 between blue (v2.1) and green (v2.2)
    with (
        live_gateway(tmp_path, routing_yaml(blue_url, green_url, extra=WEIGHTED)) as gw,
        # When an operator opens the dashboard
        dashboard(pw, gw) as d,
    ):
        status = httpx.get(f"{gw.url}/admin/status").json()
        versions = {s["name"]: s["version"] for s in status["slots"]}
        page = d.page

        # Then it shows the active slot, the route version and each slot's version, weight and state
        expect(page.locator("#active-slot")).to_have_text("blue", timeout=SEEN_MS)
        expect(page.locator("#route-version")).to_have_text(str(status["route"]["version"]), timeout=SEEN_MS)
        expect(page.locator("#slots tr[data-slot]")).to_have_count(2, timeout=SEEN_MS)
        for name, weight, state in [("blue", "80%", "active"), ("green", "20%", "standby")]:
            row = page.locator(f'#slots tr[data-slot="{name}"]')
            expect(row.locator("td.version")).to_have_text(versions[name], timeout=SEEN_MS)
            expect(row.locator("td.weight")).to_have_text(weight, timeout=SEEN_MS)
            expect(row.locator("td.state")).to_have_text(state, timeout=SEEN_MS)
            # And the split bar gives each slot its share of the width
            bar = page.locator(f'#split [data-slot="{name}"]')
            expect(bar).to_have_attribute(
                "style", re.compile(rf"(?<![-\w])width:\s*{weight}"), timeout=SEEN_MS
            )

        # And with no token configured there is no login form, no canary, and nothing to roll back to
        expect(page.locator("#login")).to_be_hidden(timeout=SEEN_MS)
        expect(page.locator("#canary-status")).to_contain_text("no canary", timeout=SEEN_MS)
        expect(page.locator("#rollback")).to_be_disabled(timeout=SEEN_MS)

        # When traffic is switched elsewhere (by the API, not the page)
        r = httpx.post(f"{gw.url}/admin/switch", json={"to": "green"})
        assert r.status_code == 200, r.text

        # Then the next poll shows it without a reload, and rollback becomes possible
        expect(page.locator("#active-slot")).to_have_text("green", timeout=SEEN_MS)
        expect(page.locator("#route-version")).to_have_text(str(r.json()["route_version"]), timeout=SEEN_MS)
        expect(page.locator("#rollback")).to_be_enabled(timeout=SEEN_MS)
        requests = list(d.requests)

    # And every request went to the gateway's own origin (nothing from a CDN), the admin API among them
    foreign = [u for u in requests if not u.startswith(f"{gw.url}/") and not u.startswith("data:")]
    assert foreign == [], foreign
    for path in ("/admin/status", "/admin/canary?events=200", "/admin/history?limit=20"):
        assert f"{gw.url}{path}" in requests, (path, requests)


def test_one_click_rolls_back_to_the_previous_slot_and_is_recorded_as_done_by_the_dashboard(
    tmp_path: Path, blue_url: str, green_url: str, pw: Any
) -> None:
    expect = pw.expect
    # Given traffic was switched from blue to green, so blue is the slot to go back to
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        r = httpx.post(f"{gw.url}/admin/switch", json={"to": "green"})
        assert r.status_code == 200, r.text
        with dashboard(pw, gw) as d:
            page = d.page
            posts: list[str] = []
            page.on("request", lambda req: posts.append(req.url) if req.method == "POST" else None)
            expect(page.locator("#active-slot")).to_have_text("green", timeout=SEEN_MS)
            rollback = page.locator("#rollback")
            expect(rollback).to_be_enabled(timeout=SEEN_MS)

            # When the operator clicks rollback but cancels the confirmation
            cancelled: list[str] = []

            def dismiss(dialog: Dialog) -> None:
                cancelled.append(dialog.type)
                dialog.dismiss()

            page.once("dialog", dismiss)
            rollback.click()
            assert cancelled == ["confirm"]

            # And then clicks it again and confirms
            confirmed: list[str] = []
            page.once("dialog", accept(confirmed))

            def is_rollback(req: Request) -> bool:
                return req.method == "POST" and req.url == f"{gw.url}/admin/rollback"

            with page.expect_request(is_rollback, timeout=SEEN_MS) as sent:
                rollback.click()
            assert confirmed == ["confirm"]

            # Then one rollback was sent, as the dashboard, with its reason (the cancelled click sent none)
            assert posts.count(f"{gw.url}/admin/rollback") == 1, posts
            assert sent.value.headers.get("x-slipway-actor") == "dashboard", sent.value.headers
            assert sent.value.post_data_json == {"reason": "rollback from the dashboard"}

            # And the page shows blue active again and says so
            expect(page.locator("#active-slot")).to_have_text("blue", timeout=SEEN_MS)
            expect(page.locator("#message")).to_contain_text("rolled back", timeout=SEEN_MS)
            expect(page.locator("#message")).to_contain_text("blue", timeout=SEEN_MS)

            # And the gateway agrees: blue is active, and the newest change is the dashboard's rollback
            status = httpx.get(f"{gw.url}/admin/status").json()
            assert (status["route"]["active"], status["route"]["previous_active"]) == ("blue", "green")
            newest = httpx.get(f"{gw.url}/admin/history", params={"limit": 20}).json()["changes"][0]
            assert (newest["kind"], newest["from_active"], newest["to_active"]) == (
                "rollback",
                "green",
                "blue",
            )
            assert (newest["actor"], newest["reason"]) == ("dashboard", "rollback from the dashboard")
            rollbacks = httpx.get(f"{gw.url}/admin/history").json()["changes"]
            assert [c["kind"] for c in rollbacks].count("rollback") == 1, rollbacks

            # And the timeline's first entry is that rollback, with who did it and why
            first = page.locator("#timeline li").first
            expect(first).to_have_attribute("data-version", str(newest["version"]), timeout=SEEN_MS)
            for shown in ("rollback", "green -> blue", "dashboard", "rollback from the dashboard"):
                expect(first).to_contain_text(shown, timeout=SEEN_MS)
            expect(page.locator("#route-version")).to_have_text(str(newest["version"]), timeout=SEEN_MS)


def test_with_an_admin_token_the_page_asks_for_it_and_refuses_a_wrong_one(
    tmp_path: Path, blue_url: str, green_url: str, pw: Any
) -> None:
    expect = pw.expect
    # Given a gateway whose admin API needs a token; the page itself is served without one
    with (
        live_gateway(tmp_path, routing_yaml(blue_url, green_url), token=TOKEN) as gw,
        dashboard(pw, gw) as d,
    ):
        page = d.page
        login = page.locator("#login")
        rows = page.locator("#slots tr[data-slot]")

        # Then it asks for the token and shows no slot
        expect(login).to_be_visible(timeout=SEEN_MS)
        expect(rows).to_have_count(0)

        # When a wrong token is submitted
        def refused(resp: Any) -> bool:
            sent = resp.request.headers.get("authorization")
            return "/admin/" in resp.url and sent == "Bearer not-the-token" and resp.status == 401

        with page.expect_response(refused, timeout=SEEN_MS):
            page.locator("#token").fill("not-the-token")
            page.locator("#login-submit").click()

        # Then the form stays, says the token was refused, and still no slot is shown
        expect(login).to_be_visible(timeout=SEEN_MS)
        said = "() => [...document.querySelectorAll('#message, #login')].map(e => e.innerText).join(' ')"
        try:
            page.wait_for_function(
                f"pattern => new RegExp(pattern, 'i').test(({said})())", arg=REFUSED.pattern, timeout=SEEN_MS
            )
        except pw.TimeoutError:
            pass  # the assertion below says what was shown instead
        assert REFUSED.search(page.evaluate(said)), page.evaluate(said)
        expect(rows).to_have_count(0)

        # When the right token is submitted
        def authorized(req: Request) -> bool:
            return (
                req.url == f"{gw.url}/admin/status" and req.headers.get("authorization") == f"Bearer {TOKEN}"
            )

        with page.expect_request(authorized, timeout=SEEN_MS):
            page.locator("#token").fill(TOKEN)
            page.locator("#login-submit").click()

        # Then the slots appear, the form goes, and the token is kept for this tab only
        expect(rows).to_have_count(2, timeout=SEEN_MS)
        expect(page.locator("#active-slot")).to_have_text("blue", timeout=SEEN_MS)
        expect(login).to_be_hidden(timeout=SEEN_MS)
        assert TOKEN in page.evaluate("() => Object.values(sessionStorage)")
        assert TOKEN not in page.evaluate("() => Object.values(localStorage)")


def test_a_canary_with_a_billing_regression_shows_its_checks_metrics_chart_and_can_be_aborted(
    tmp_path: Path, pw: Any
) -> None:
    expect = pw.expect
    clock = ManualClock()
    # Given v2.2 answers billing wrong 60 % of the time, deployed as a canary at 10 %; accuracy drops are
    # held for investigation (HOLD_ON_ACCURACY) rather than rolled back at the first check, so the canary
    # lives through two checks with measured values: a chart needs two points, and abort a live canary
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2", extra=BAD_BILLING), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green, extra=HOLD_ON_ACCURACY), clock=clock) as gw,
    ):
        deploy_canary(gw, "10%:2h,50%:2h,100%")

        # When labelled traffic flows and two checks fall due, 15 minutes apart
        asyncio.run(traffic(gw.url, 1200))
        check_after(gw, clock, 15)
        asyncio.run(traffic(gw.url, 200))
        data = check_after(gw, clock, 15)
        c = data["canary"]
        assert (c["status"], c["looks"], c["weight_pct"]) == ("investigating", 2, 10), c

        with dashboard(pw, gw) as d:
            page = d.page

            # Then the page shows the canary's version, status and weight
            canary_status = page.locator("#canary-status")
            for shown in ("v2.2", "investigating", "10%"):
                expect(canary_status).to_contain_text(shown, timeout=SEEN_MS)

            # And the last verdict's metric table, billing accuracy flagged, the error rate passing
            billing = page.locator('#canary-metrics tr[data-metric="accuracy"][data-category="billing"]')
            expect(billing).to_have_count(1, timeout=SEEN_MS)
            expect(billing.locator("td.action")).to_have_text("investigate", timeout=SEEN_MS)
            baseline, candidate = (
                billing.locator(f"td.{arm}").inner_text().strip() for arm in ("baseline", "candidate")
            )
            assert baseline and candidate and baseline != candidate, (baseline, candidate)
            errors = page.locator('#canary-metrics tr[data-metric="error_rate"][data-category="all"]')
            expect(errors.locator("td.action")).to_have_text("pass", timeout=SEEN_MS)

            # When billing accuracy is chosen for the chart
            choice = page.locator("select#chart-metric")
            for value in ("error_rate", "latency_p95", "accuracy[billing]"):
                expect(choice.locator(f'option[value="{value}"]')).to_have_count(1, timeout=SEEN_MS)
            choice.select_option("accuracy[billing]")

            # Then both lines are drawn over the two checks, apart (1.00 against about 0.4)
            paths = {arm: page.locator(f"#canary-chart path.{arm}") for arm in ("baseline", "candidate")}
            for path in paths.values():
                expect(path).to_have_count(1, timeout=SEEN_MS)
                expect(path).to_have_attribute("d", TWO_POINTS, timeout=SEEN_MS)
            assert paths["baseline"].get_attribute("d") != paths["candidate"].get_attribute("d")
            expect(choice).to_have_value("accuracy[billing]")  # the polls did not reset the choice

            # When the operator aborts the live canary and confirms
            abort = page.locator("#canary-abort")
            expect(abort).to_be_visible(timeout=SEEN_MS)
            confirmed: list[str] = []
            page.once("dialog", accept(confirmed))

            def is_abort(req: Request) -> bool:
                return req.method == "POST" and req.url == f"{gw.url}/admin/canary/abort"

            with page.expect_request(is_abort, timeout=SEEN_MS):
                abort.click()
            assert confirmed == ["confirm"]

            # Then the canary has ended: the page says so, the abort button goes, the gateway agrees
            expect(canary_status).to_contain_text("aborted", timeout=SEEN_MS)
            expect(abort).to_be_hidden(timeout=SEEN_MS)
            status = httpx.get(f"{gw.url}/admin/status").json()
            assert status["canary"]["status"] == "aborted" and status["route"]["weights_pct"] == {}


# --- other pages in the same browser ----------------------------------------------------------------
#
# The threat: the operator's browser has the dashboard's gateway on 127.0.0.1 and, in another tab, any
# page from anywhere. Without a token (allowed on loopback) nothing but the browser's own rules and the
# gateway's checks stand between that page and a rollback.

#: What a hostile page does, in the order a test waits for: a no-cors text/plain fetch (a "simple"
#: request, sent without asking the server first) and a text/plain form posted into a hidden frame.
ATTACK = """<!doctype html>
<iframe name="sink" hidden></iframe>
<form id="form" method="POST" action="{target}" enctype="text/plain" target="sink"></form>
<script>
fetch("{target}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                    body: '{{"reason": "a page from another origin"}}'}})
  .finally(() => document.getElementById("form").submit());
</script>
"""
#: The same page after DNS rebinding: its own name now points at 127.0.0.1, so it reads and posts
#: "same-origin"; the answers come back to the page, which reports them.
REBOUND = """<!doctype html>
<script>
window.seen = (async () => {
  const read = await fetch("/admin/status");
  const post = await fetch("/admin/rollback", {method: "POST", headers: {"Content-Type": "application/json"},
                                               body: '{"reason": "a rebound page"}'});
  return {read: read.status, post: post.status, body: await read.text()};
})();
</script>
"""


#: Recent Chromium stops a page from a public address calling 127.0.0.1 (local network access); other
#: browsers and older Chromium do not, so the gateway must hold without it.
WITHOUT_LOCAL_NETWORK_PROTECTION = (
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,"
    "PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults"
)


def page_server(html: str) -> contextlib.AbstractContextManager[str]:
    """Serves `html` at every path: the other origin's page."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": html.encode()})

    return run_asgi(app, lifespan="off")


@contextlib.contextmanager
def browser_page(sync_api: Any, *args: str) -> Iterator[Page]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(args))
        try:
            yield browser.new_page()
        finally:
            browser.close()


def route_now(gw: Gateway) -> tuple[str, int, int]:
    """(active slot, route version, changes in the history), as the admin API reports them."""
    status = httpx.get(f"{gw.url}/admin/status").json()
    changes = httpx.get(f"{gw.url}/admin/history", params={"limit": 10_000}).json()["changes"]
    return status["route"]["active"], status["route"]["version"], len(changes)


def test_a_page_from_another_origin_on_127_0_0_1_cannot_roll_back(
    tmp_path: Path, blue_url: str, green_url: str, pw: Any
) -> None:
    # Given a gateway without a token whose traffic was switched to green, so a rollback would move it
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        r = httpx.post(f"{gw.url}/admin/switch", json={"to": "green"})
        assert r.status_code == 200, r.text
        before = route_now(gw)
        target = f"{gw.url}/admin/rollback"

        # When the operator's browser opens a page served from another port of the same machine
        with page_server(ATTACK.format(target=target)) as other, browser_page(pw) as page:

            def sent_as(kind: str) -> Any:
                return lambda req: req.url == target and req.method == "POST" and req.resource_type == kind

            with (
                page.expect_request(sent_as("fetch"), timeout=SEEN_MS) as fetched,
                page.expect_request(sent_as("document"), timeout=SEEN_MS) as posted,
            ):
                page.goto(other)
            # (each waits until its answer is in, or the browser gave up on it)
            fetch_answer, form_answer = fetched.value.response(), posted.value.response()
            fetch_failure = fetched.value.failure

        # Then the browser did send both, the gateway refused the form (the fetch's answer is not even
        # handed to the page: it is marked for this server's own origin only)
        assert form_answer is not None and form_answer.status == 403, form_answer
        assert fetch_answer is None and "NotSameOrigin" in str(fetch_failure), fetch_failure
        # And traffic stayed where it was, with nothing new in the history
        assert route_now(gw) == before


def test_a_page_whose_dns_name_was_rebound_to_127_0_0_1_can_neither_read_nor_roll_back(
    tmp_path: Path, blue_url: str, green_url: str, pw: Any
) -> None:
    # Given a gateway without a token whose traffic was switched to green
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        r = httpx.post(f"{gw.url}/admin/switch", json={"to": "green"})
        assert r.status_code == 200, r.text
        before = route_now(gw)
        port = gw.url.rsplit(":", 1)[1]
        evil = f"http://evil.example:{port}"

        # When a page from evil.example, loaded from the attacker's server on the gateway's port, has its
        # name resolve to 127.0.0.1 afterwards (the browser's resolver is told so; the first load is
        # answered by the test, as the attacker's server would), in a browser that lets a public page
        # call a loopback address
        rules = "--host-resolver-rules=MAP evil.example 127.0.0.1"
        with browser_page(pw, rules, WITHOUT_LOCAL_NETWORK_PROTECTION) as page:
            page.route(f"{evil}/attack", lambda route: route.fulfill(body=REBOUND, content_type="text/html"))
            page.goto(f"{evil}/attack")
            seen = page.evaluate("() => window.seen")

        # Then the gateway answered neither the read nor the rollback
        assert (seen["read"], seen["post"]) == (400, 400), seen
        assert "evil.example" in seen["body"] and "route" not in seen["body"], seen["body"]
        assert route_now(gw) == before


HOSTILE = "<img src=x onerror=alert(1)>"


async def hostile_traffic(url: str, n: int, labelled: int) -> None:
    """`n` chats in a category named like markup, the first `labelled` of them labelled."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for i in range(n):
            r = await client.post(
                "/v1/chat/completions",
                headers={"x-slipway-category": HOSTILE},
                json={"model": "m", "messages": [{"role": "user", "content": f"hello #{i}"}]},
            )
            assert r.status_code == 200, r.text
            if i < labelled:
                fb = await client.post(
                    "/v1/feedback", json={"request_id": r.headers["x-slipway-request-id"], "label": HOSTILE}
                )
                assert fb.status_code == 200, fb.text


def test_a_bake_after_a_switch_says_so_with_its_standby_and_per_category_coverage(
    tmp_path: Path, pw: Any
) -> None:
    expect = pw.expect
    clock = ManualClock()
    # Given v2.1 served labelled traffic, a client-named category among it, then v2.2 deployed blue-green
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green), clock=clock) as gw,
    ):
        asyncio.run(traffic(gw.url, 400))
        asyncio.run(hostile_traffic(gw.url, 40, 8))
        r = httpx.post(
            f"{gw.url}/admin/deploy",
            json={"version": "v2.2", "strategy": "bluegreen", "slot": "green", "no_smoke": True},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        assert r.json()["canary"]["kind"] == "bake"
        # When v2.2 serves traffic and the first check of its bake falls due
        asyncio.run(traffic(gw.url, 400))
        asyncio.run(hostile_traffic(gw.url, 40, 8))
        c = check_after(gw, clock, 5)["canary"]
        assert (c["kind"], c["status"]) == ("bake", "promoted"), c
        slots = httpx.get(f"{gw.url}/admin/status").json()["slots"]
        old = {s["name"]: s["version"] for s in slots}["blue"]
        alerts: list[str] = []

        with dashboard(pw, gw) as d:
            page = d.page

            def dismiss(dialog: Dialog) -> None:
                alerts.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", dismiss)
            # Then the panel says it is a bake, against what, the standby, the window and the verdict
            expect(page.locator("#canary-status")).to_contain_text("bake of v2.2", timeout=SEEN_MS)
            expect(page.locator("#bake-what")).to_contain_text(
                "Bake of v2.2 after the switch", timeout=SEEN_MS
            )
            expect(page.locator("#bake-reference")).to_contain_text(
                f"{old}'s own traffic from", timeout=SEEN_MS
            )
            expect(page.locator("#bake-standby")).to_contain_text(f"Standby: blue ({old})", timeout=SEEN_MS)
            expect(page.locator("#bake-window")).to_contain_text("first hour", timeout=SEEN_MS)
            expect(page.locator("#bake-window")).to_contain_text("next check in 5m", timeout=SEEN_MS)
            expect(page.locator("#bake-verdict")).to_contain_text("pass", timeout=SEEN_MS)
            # And only the actions valid for a bake: no abort, a switch back to the standby
            expect(page.locator("#canary-abort")).to_be_hidden(timeout=SEEN_MS)
            expect(page.locator("#bake-back")).to_have_text("Switch back to blue", timeout=SEEN_MS)
            # And the coverage table: billing covered, the markup-named category not, shown as text
            billing = page.locator('#coverage tr[data-category="billing"]')
            expect(billing.locator("td.coverage")).to_have_text("covered", timeout=SEEN_MS)
            expect(billing.locator("td.labels")).to_have_text("200 / 200", timeout=SEEN_MS)
            rows = page.locator("#coverage tbody tr")
            expect(rows).to_have_count(3, timeout=SEEN_MS)
            odd = rows.filter(has_text=HOSTILE)
            expect(odd).to_have_count(1, timeout=SEEN_MS)
            expect(odd.locator("td.category")).to_have_text(HOSTILE)
            expect(odd.locator("td.coverage")).to_have_text("not covered")
            expect(odd.locator("td.labels")).to_have_text("8 / 8")
            expect(odd.locator("td.eta")).to_contain_text("never")
            assert page.locator("#board img").count() == 0
            assert alerts == []


def test_a_canary_names_a_category_without_enough_labels_not_covered(tmp_path: Path, pw: Any) -> None:
    expect = pw.expect
    clock = ManualClock()
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green), clock=clock) as gw,
    ):
        deploy_canary(gw, "50%:2h,100%")
        asyncio.run(traffic(gw.url, 400))
        asyncio.run(hostile_traffic(gw.url, 40, 8))
        check_after(gw, clock, 15)
        with dashboard(pw, gw) as d:
            page = d.page
            expect(page.locator("#bake")).to_be_hidden(timeout=SEEN_MS)
            odd = page.locator("#coverage tbody tr").filter(has_text=HOSTILE)
            expect(odd.locator("td.coverage")).to_have_text("not covered", timeout=SEEN_MS)
            expect(page.locator('#coverage tr[data-category="billing"] td.coverage')).to_have_text("covered")
            # Roll back during the ramp ends the canary: the confirmation says so, not "green to blue".
            asked: list[str] = []

            def dismiss(dialog: Dialog) -> None:
                asked.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", dismiss)
            expect(page.locator("#rollback")).to_be_enabled(timeout=SEEN_MS)
            page.locator("#rollback").click()
            expect(page.locator("#canary-status")).to_contain_text("v2.2", timeout=SEEN_MS)
            question = (
                "Roll back now: end the canary of v2.2; "
                "green's share goes to 0 % and all traffic stays on blue?"
            )
            assert asked == [question], asked


def test_the_latest_checklist_is_shown_item_by_item_as_text(
    tmp_path: Path, blue_url: str, green_url: str, pw: Any
) -> None:
    expect = pw.expect
    # Given a checklist of green's version whose owner and waiver carry markup (an operator typed them)
    owner = '<img src=x onerror="document.title=1">ana'
    why = "<b>drill</b> booked for Monday"
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        version = next(
            s["version"] for s in httpx.get(f"{gw.url}/admin/status").json()["slots"] if s["name"] == "green"
        )
        body = {"version": version, "slot": "green", "owner": owner, "waivers": {"drill": why}}
        resp = httpx.post(f"{gw.url}/admin/checklist", json=body, timeout=60)
        assert resp.status_code == 200, resp.text
        # When an operator opens the dashboard
        with dashboard(pw, gw) as d:
            page = d.page
            # Then every item is a row, the verdict is said, and the operator's words are text, not markup
            expect(page.locator("#checklist tr[data-item]")).to_have_count(10, timeout=SEEN_MS)
            expect(page.locator("#checklist-verdict")).to_contain_text(f"{version} in green", timeout=SEEN_MS)
            owner_row = page.locator('#checklist tr[data-item="owner"]')
            expect(owner_row).to_contain_text(f"owner {owner}", timeout=SEEN_MS)
            drill = page.locator('#checklist tr[data-item="drill"]')
            expect(drill).to_contain_text("waived", timeout=SEEN_MS)
            expect(drill).to_contain_text(why, timeout=SEEN_MS)
            assert page.locator("#checklist img, #checklist b").count() == 0
            assert page.title() != "1"


def test_input_drift_and_the_last_drill_are_shown_with_client_words_as_text(
    tmp_path: Path, blue_url: str, green_url: str, pw: Any
) -> None:
    expect = pw.expect
    hostile = '<img src=x onerror="document.title=1">vip'
    clock = ManualClock()
    drift = "drift: {interval: 1m, window: 300, reference: 600}\n"
    config = routing_yaml(blue_url, green_url, extra=drift)
    with live_gateway(tmp_path, config, clock=clock, port=free_port()) as gw:
        # Given the active version's reference, then a category a client named with markup taking over
        asyncio.run(traffic(gw.url, 700, labels=False))
        drift_after_a_check(gw, clock, "steady")
        with httpx.Client(base_url=gw.url, timeout=30) as client:
            for i in range(240):
                r = client.post(
                    "/v1/chat/completions",
                    headers={"x-slipway-category": hostile},
                    json={"model": "m", "messages": [{"role": "user", "content": f"upgrade me #{i}"}]},
                )
                assert r.status_code == 200, r.text
        drift_after_a_check(gw, clock, "drifted")
        # And a rollback drill with the standby
        drilled = httpx.post(f"{gw.url}/admin/drill", json={"slot": "green"}, timeout=120)
        assert drilled.status_code == 200 and drilled.json()["drill"]["passed"], drilled.text
        # When an operator opens the dashboard
        with dashboard(pw, gw) as d:
            page = d.page
            # Then the drift is said per kind of input, the client's category as text, and the drill's result
            expect(page.locator("#drift-state")).to_contain_text(
                "inputs drifted since customer-support-v2.1's first 600 requests", timeout=SEEN_MS
            )
            category = page.locator('#drift tr[data-dimension="category"]')
            expect(category).to_contain_text(f"{hostile} rose from", timeout=SEEN_MS)
            expect(page.locator('#drift tr[data-dimension="length"]')).to_be_visible(timeout=SEEN_MS)
            expect(page.locator("#drill-last")).to_contain_text("with green: passed, switch", timeout=SEEN_MS)
            assert page.locator("#drift img").count() == 0
            assert page.title() != "1"
