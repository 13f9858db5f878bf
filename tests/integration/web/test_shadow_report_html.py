"""The shadow report's HTML file in a real browser: it renders offline, shows the verdict, draws its charts.

Opened from disk with every network request refused, as it would be from a
mail attachment; the charts are inline SVG, so their bars must have a size.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.analysis.shadow.synth import make_pairs, pair

from slipway.analysis.shadow.report import build_report
from slipway.core.shadow import ShadowRun
from slipway.core.shadow_config import ShadowConfig
from slipway.web.reports.shadow_html import render_html

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")


def test_the_report_renders_offline_with_its_verdict_and_charts(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("needs Chromium at /usr/bin/chromium (scripts/debian-packages tests)")
    pairs = [
        pair(
            "evil", "billing", "nope", input_text="<script>document.title='pwned'</script>", label="billing"
        ),
        *make_pairs(1500, 12, lambda category, code: 0.5 if category == "billing" else 0.0),
    ]
    run = ShadowRun("dep-7", "v2.2", "blue", "green", 10_000, 0.0, 604_800.0)
    report = build_report(pairs, ShadowConfig(), run=run, now=1_700_000_000.0)
    path = tmp_path / "shadow.html"
    path.write_text(render_html(report), encoding="utf-8")

    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(java_script_enabled=True)
            page.on("request", lambda r: requests.append(r.url))
            page.route(
                "**/*",
                lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
            )
            page.goto(path.as_uri())

            assert page.locator("#verdict .decision").inner_text().strip().lower() == "no-go"
            assert "category = billing" in page.locator("#verdict").inner_text()
            assert "Rule:" in page.locator("#verdict .rule").inner_text()
            assert page.title().startswith("Shadow report")  # the escaped <script> did not run

            for chart in ("#chart-pass", "#chart-regressions"):
                box = page.locator(chart).bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 50, chart
                widths = page.locator(f"{chart} rect").evaluate_all("els => els.map(e => e.getBBox().width)")
                assert widths and max(widths) > 10, chart
            billing_row = page.locator("#chart-pass text", has_text="billing")
            assert billing_row.count() == 1
            # the hostile input is shown as text: the first example of the flagged category
            assert (
                page.locator(".example pre").first.inner_text() == "<script>document.title='pwned'</script>"
            )
        finally:
            browser.close()
    assert [u for u in requests if not u.startswith("file:")] == []
