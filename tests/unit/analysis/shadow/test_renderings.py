"""The HTML file and the terminal views: self-contained, escaped, and they say the verdict first."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from rich.console import Console
from tests.unit.analysis.shadow.synth import make_pairs, pair

from slipway.analysis.shadow.adequacy import adequacy_for
from slipway.analysis.shadow.report import build_report
from slipway.analysis.shadow.report_model import ShadowReport
from slipway.cli.shadow_view import print_report, print_status
from slipway.core.shadow import ShadowRun
from slipway.core.shadow_config import ShadowConfig
from slipway.web.reports.shadow_html import render_html

HOSTILE = '<script>alert("x")</script><img src=http://evil.example/x.png>[bold]markup[/bold]'
RUN = ShadowRun("dep-1", "v2.2", "blue", "green", 10_000, 0.0, 604_800.0, until_pairs=2000)


@pytest.fixture(scope="module")
def report() -> ShadowReport:
    pairs = [
        pair("evil-1", "billing", "nope", category="billing", input_text=HOSTILE, label="billing"),
        *make_pairs(1500, 8, lambda c, code: 0.5 if c == "billing" else 0.0),
    ]
    return build_report(pairs, ShadowConfig(), run=RUN, now=1_700_000_000.0)


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_one_self_contained_file(report: ShadowReport) -> None:
    html = render_html(report)
    assert html.startswith("<!DOCTYPE html>")
    parser = Tags()
    parser.feed(html)
    names = {tag for tag, _ in parser.tags}
    assert not names & {"script", "link", "iframe", "object", "embed", "img"}
    for tag, attrs in parser.tags:
        assert "src" not in attrs, tag
        assert not str(attrs.get("href") or "").startswith(("http:", "https:", "//")), tag
        assert not any(name.startswith("on") for name in attrs), tag
    assert "@import" not in html and "url(" not in html
    assert sum(tag == "svg" for tag, _ in parser.tags) == 2


def test_html_escapes_user_text(report: ShadowReport) -> None:
    html = render_html(report)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "&lt;img src=http://evil.example/x.png&gt;" in html


def test_html_states_the_verdict_and_its_rule(report: ShadowReport) -> None:
    html = render_html(report.to_dict())
    assert '<div class="decision">no-go</div>' in html
    assert "Rule:" in html and "exact McNemar" in html
    assert "deployment dep-1" in html
    assert "category = billing" in html
    assert html == render_html(report)


def test_report_view_puts_the_verdict_and_flags_first(report: ShadowReport) -> None:
    console = Console(record=True, width=200)
    print_report(console, report.to_dict())
    text = console.export_text()
    assert text.startswith("NO-GO green v2.2 against blue")
    assert text.index("category = billing") < text.index("sample-size adequacy")
    assert "concentrated here" in text
    assert "more pairs needed" in text or "enough pairs" in text
    assert "[bold]markup" not in text  # hostile input is not in the table view at all


def test_report_view_without_flags_says_so() -> None:
    report = build_report(make_pairs(1200, 100), ShadowConfig(), now=0.0)
    console = Console(record=True, width=200)
    print_report(console, report.to_dict())
    assert "no group flagged" in console.export_text()


def test_status_view_lists_pairs_needs_and_the_mirror() -> None:
    pairs = [pair("p", "billing", "billing", category="[red]billing[/red]"), *make_pairs(300, 1)]
    status = {
        "shadow": RUN.to_dict(),
        "pairs": len(pairs),
        "by_category": {"[red]billing[/red]": 1, "billing": 90},
        "adequacy": [a.to_dict() for a in adequacy_for(pairs, ShadowConfig().decision)],
        "mirror": {"sent": 301, "dropped": 3, "errors": 1, "queued": 0},
    }
    console = Console(record=True, width=200)
    print_status(console, status)
    text = console.export_text()
    assert "shadow v2.2 running" in text and "301 of 2000 pairs" in text
    assert "301 sent, 0 queued, 3 dropped, 1 errors" in text
    assert "[red]billing[/red]" in text
    assert "more pairs needed to detect a 5 % drop in shipping" in text


def test_status_view_without_a_run() -> None:
    console = Console(record=True, width=120)
    print_status(console, {"shadow": None, "pairs": 0, "by_category": {}, "adequacy": [], "mirror": {}})
    assert "no shadow run" in console.export_text()
