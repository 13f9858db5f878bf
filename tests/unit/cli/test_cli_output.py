"""What the CLI prints around a verdict, in a CI log, and after the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from slipway.cli.canary import NOT_YET, metric_table, verdict_words
from slipway.cli.demo import next_steps
from slipway.cli.output import ProgressLines


def _row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "metric": "latency_p95",
        "category": None,
        "baseline": 28.65,
        "candidate": 86.58,
        "threshold": "> 1.5× production",
        "action": "pass",
        "n_baseline": 40,
        "n_candidate": 6,
        "detail": "latency_p95 28.65 → 86.58, 3.0× (interval 0.8× … 11×, p=0.31) not worse than production",
        "summary": "3.0× (0.8 … 11), p=0.31",
    }
    row.update(over)
    return row


def _text(renderable: Any) -> str:
    console = Console(record=True, width=300, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_a_pass_past_the_threshold_says_it_is_not_significant_yet_and_shows_its_interval() -> None:
    verdict = {"action": "pass", "reason": "nothing significantly worse", "metrics": [_row()]}
    text = _text(metric_table(verdict))
    assert "pass: not significant yet" in text
    assert "3.0× (0.8 … 11), p=0.31" in text
    assert " ".join(NOT_YET.split()[:6]) in " ".join(text.split())


def test_a_pass_within_the_threshold_is_a_plain_pass() -> None:
    assert verdict_words(_row(candidate=30.0)) == "pass"
    assert verdict_words(_row(action="rollback")) == "rollback"
    drop = {"threshold": "> 5 points drop", "baseline": 0.97, "candidate": 0.75}
    assert verdict_words(_row(metric="accuracy", **drop)) == "pass: not significant yet"
    assert verdict_words(_row(metric="accuracy", **{**drop, "candidate": 0.95})) == "pass"
    pct = {"threshold": "> 10 % drop", "baseline": 0.9, "candidate": 0.7}
    assert verdict_words(_row(metric="satisfaction", **pct)) == "pass: not significant yet"
    assert verdict_words(_row(baseline=None, candidate=None)) == "pass"
    verdict = {"action": "pass", "reason": "fine", "metrics": [_row(candidate=30.0)]}
    assert "not significant yet" not in _text(metric_table(verdict))


def test_progress_for_a_log_is_a_line_per_stage_and_per_ten_percent() -> None:
    console = Console(record=True, width=200, color_system=None)
    lines = ProgressLines(console)
    lines.update("configuring llama.cpp with CMake", 0, 100)
    for pct in range(0, 101):
        lines.update("compiling llama-server", pct, 100)
        lines.update("compiling llama-server", pct, 100)
    out = console.export_text().splitlines()
    assert out[0] == "configuring llama.cpp with CMake: 0 % (0/100)"
    assert out[1:] == [f"compiling llama-server: {p} % ({p}/100)" for p in range(0, 101, 10)]


def test_the_demo_next_steps_work_from_anywhere(tmp_path: Path) -> None:
    cli = str(tmp_path / "repo" / ".venv" / "bin" / "slipway")
    text = next_steps(tmp_path / "slipway-demo", cli)
    assert f"cd {tmp_path / 'slipway-demo'} && {cli} serve --config slipway.yaml" in text
    assert f"{cli} history" in text and f"{cli} status" in text
    assert f"`. {tmp_path / 'repo' / '.venv' / 'bin' / 'activate'}` puts it there" in text
    assert not any(line.lstrip().startswith("slipway ") for line in text.splitlines())
    on_path = next_steps(tmp_path / "d", "slipway")
    assert "not on your PATH" not in on_path and "  slipway status" in on_path
