"""`slipway demo`: a real blue-green rollout and rollback of a LoRA adapter, in about a minute."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from slipway.core.errors import SlipwayError

console = Console()


def demo(
    workdir: Path = typer.Option(
        Path("slipway-demo"), "--workdir", help="Where models, config, smoke set and state go."
    ),
    requests: int = typer.Option(400, min=50, help="Labelled tickets per phase."),
    seed: int = typer.Option(0, help="Seed for the model and the traffic (same seed, same story)."),
    strategy: str = typer.Option(
        "canary", help="canary (the seed's unattended 5%/25%/100% ramp) or bluegreen (switch, then evaluate)."
    ),
    clock_scale: float = typer.Option(
        240.0, min=1.0, help="Canary clock speed-up: 240 makes 2 h of canary last 30 s."
    ),
) -> None:
    """Ship adapter v2.2, catch its billing regression, roll back to v2.1 — on real llama.cpp."""
    if strategy not in ("canary", "bluegreen"):
        console.print(f"[red]error:[/] --strategy must be canary or bluegreen, not {strategy!r}")
        raise typer.Exit(2)
    from slipway.demo.scenario import DemoOptions, DemoResult, run_demo

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:>14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bars:

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bars.add_task(label, total=total)
            bars.update(tasks[label], completed=done, total=total)

        def say(text: str) -> None:
            bars.console.print(f"[bold cyan]slipway demo[/] {text}", highlight=False)

        try:
            result: DemoResult = asyncio.run(
                run_demo(
                    DemoOptions(
                        workdir=workdir,
                        requests=requests,
                        seed=seed,
                        strategy=strategy,
                        clock_scale=clock_scale,
                    ),
                    say,
                    progress,
                )
            )
        except SlipwayError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
    _summary(result)
    if result.regression_reason is None or result.failed_requests:
        raise typer.Exit(1)


def _num(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value if value is not None else "-")


def _summary(result: object) -> None:
    from slipway.demo.scenario import DemoResult
    from slipway.demo.tickets import INTENTS

    assert isinstance(result, DemoResult)
    table = Table(title="accuracy by intent, from slipway's records + feedback")
    for col in ("phase", "slot", "version", "tickets", "overall", *INTENTS):
        table.add_column(col, justify="right" if col not in ("phase", "slot", "version") else "left")
    for phase in result.phases:
        cells = [f"{phase.scores[c].accuracy:.2f}" if c in phase.scores else "-" for c in INTENTS]
        if result.regressed_category in INTENTS and phase.version == "v2.2":
            i = INTENTS.index(str(result.regressed_category))
            cells[i] = f"[bold red]{cells[i]}[/]"
        table.add_row(
            phase.name,
            phase.slot,
            phase.version,
            str(phase.overall.n),
            f"{phase.overall.accuracy:.2f}",
            *cells,
        )
    console.print(table)
    timeline = Table(title="timeline")
    timeline.add_column("t (s)", justify="right")
    timeline.add_column("event")
    for at, text in result.timeline:
        timeline.add_row(f"{at:6.1f}", text)
    console.print(timeline)
    verdict = (result.canary or {}).get("last_verdict") or {}
    if verdict.get("metrics"):
        metrics = Table(title=f"the canary's last check: {verdict.get('action')}")
        for col in ("metric", "category", "v2.1 (production)", "v2.2 (canary)", "threshold", "n", "verdict"):
            metrics.add_column(col)
        for m in verdict["metrics"]:
            action = str(m.get("action"))
            metrics.add_row(
                str(m.get("metric")),
                str(m.get("category") or ""),
                _num(m.get("baseline")),
                _num(m.get("candidate")),
                str(m.get("threshold") or ""),
                f"{m.get('n_baseline')}/{m.get('n_candidate')}",
                f"[bold red]{action}[/]" if action == "rollback" else action,
            )
        console.print(metrics)
    console.print(f"failed requests: {result.failed_requests}")
    if result.rollback_effective_ms is not None:
        console.print(
            f"rollback: API call {result.rollback_api_ms:.1f} ms, first request on v2.1 "
            f"{result.rollback_effective_ms:.1f} ms after it; failed requests: {result.failed_requests}"
        )
    config = result.workdir.resolve() / "slipway.yaml"
    console.print(
        "\nwhere to look next:\n"
        f"  slipway serve --config {config}     # the same gateway, state kept\n"
        "  slipway history                     # every route change: who, when, why\n"
        "  slipway status                      # slots, versions, engines, traffic\n"
        "  docs/runbook.md                     # a rollback at 3 a.m., step by step"
    )
