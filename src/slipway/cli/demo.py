"""`slipway demo`: a LoRA adapter rolled out and rolled back, and the next version slipway learned to stop."""

from __future__ import annotations

import asyncio
import logging
import shlex
import shutil
import sys
import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from slipway.cli.canary import NOT_YET, verdict_words
from slipway.cli.output import ProgressLines, make_console
from slipway.core.errors import SlipwayError

console: Console = make_console()


class DemoStrategy(StrEnum):
    """The stories the demo tells: the same names as `slipway deploy --strategy` (a shadow run has no
    rollback to show, so it is not one of them)."""

    CANARY = "canary"
    BLUEGREEN = "bluegreen"


def demo(
    workdir: Path = typer.Option(
        Path("slipway-demo"), "--workdir", help="Where models, config, smoke set and state go."
    ),
    requests: int = typer.Option(400, min=50, help="Labelled tickets per phase."),
    seed: int = typer.Option(0, help="Seed for the model and the traffic (same seed, same story)."),
    strategy: DemoStrategy = typer.Option(
        DemoStrategy.CANARY,
        "--strategy",
        help="canary (an unattended 5%/25%/100% ramp) or bluegreen (switch, then slipway's bake).",
    ),
    clock_scale: float = typer.Option(
        240.0, min=1.0, help="Canary clock speed-up: 240 makes 2 h of canary last 30 s."
    ),
) -> None:
    """Ship adapter v2.2, catch its billing regression, roll back, learn from it — on real llama.cpp.

    After the rollback: slipway's postmortem, v2.2's wrong answers as must-pass
    regression cases, a v2.3 with the same flaw refused by the checklist before
    any user sees it, and a retrained v2.3 that passes and serves.
    """
    from slipway.demo.scenario import DemoOptions, DemoResult, run_demo

    # The gateway runs in this process: its notifications (the rollback with its metric table) would
    # print the table a second time. The story lines and the summary below say all of it.
    logging.getLogger("slipway.notify").addHandler(logging.NullHandler())
    tasks: dict[str, TaskID] = {}
    lines = None if console.is_terminal else ProgressLines(console)
    with Progress(
        TextColumn("{task.description:>14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bars:

        def progress(label: str, done: int, total: int) -> None:
            if lines is not None:
                # A CI log never sees a live bar: a line per 10 % instead.
                lines.update(label, done, total)
                return
            if label not in tasks:
                tasks[label] = bars.add_task(label, total=total)
            bars.update(tasks[label], completed=done, total=total)

        started = time.perf_counter()

        def say(text: str) -> None:
            at = time.perf_counter() - started
            bars.console.print(
                f"[bold cyan]slipway demo[/] [dim]{at:6.1f}s[/] {escape(text)}", highlight=False
            )

        try:
            result: DemoResult = asyncio.run(
                run_demo(
                    DemoOptions(
                        workdir=workdir,
                        requests=requests,
                        seed=seed,
                        strategy=strategy.value,
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
    if result.loop is None or not result.loop.closed:
        console.print("[red]the loop after the rollback did not close[/]: see the lines above")
        raise typer.Exit(1)


def slipway_command() -> str:
    """How the user can run this same slipway: `slipway` when that is on PATH, else its full path."""
    me = Path(sys.argv[0]).absolute()
    on_path = shutil.which("slipway")
    if me.name != "slipway" or (on_path is not None and Path(on_path).absolute() == me):
        return "slipway"
    return str(me)


def next_steps(workdir: Path, cli: str) -> str:
    """Commands that work as printed: the gateway is started in the demo's directory (its state is
    `./.slipway` there), and `slipway` is named by its path when it is not on PATH."""
    root = workdir.resolve()
    serve = f"cd {shlex.quote(str(root))} && {cli} serve --config slipway.yaml"
    rows = [
        (serve, "the same gateway, state kept (Ctrl-C stops it)"),
        (f"{cli} history", "in another shell, while it runs: every route change, who, when, why"),
        (f"{cli} status", "slots, versions, engines, traffic"),
        (f"{cli} canary status", "the canary's checks, each metric with its interval"),
        (f"{cli} postmortem", "what v2.2 got wrong, for whom, and what to change"),
        (f"{cli} deployments", "every deploy, the first v2.3 refused by its checklist among them"),
        ("docs/runbook.md", "a rollback at 3 a.m., step by step"),
    ]
    width = max(len(cmd) for cmd, _ in rows)
    text = "\nwhere to look next:\n"
    if cli != "slipway":
        venv = Path(cli).parent
        text += f"  (slipway is not on your PATH: `. {shlex.quote(str(venv / 'activate'))}` puts it there)\n"
    return text + "".join(f"  {cmd:<{width}}  # {why}\n" for cmd, why in rows)


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
    verdict = (result.canary or {}).get("last_verdict") or {}
    if verdict.get("metrics"):
        what = "bake" if (result.canary or {}).get("kind") == "bake" else "canary"
        metrics = Table(title=f"the {what}'s last check: {verdict.get('action')}")
        cols = (
            "metric",
            "category",
            "v2.1 (production)" if what == "canary" else "v2.1 (before)",
            f"v2.2 ({what})",
            "threshold",
            "n",
            "verdict",
        )
        for col in (*cols, "effect (interval), p"):
            metrics.add_column(col)
        pending = False
        for m in verdict["metrics"]:
            action = str(m.get("action"))
            words = verdict_words(m)
            pending = pending or words != action
            metrics.add_row(
                str(m.get("metric")),
                str(m.get("category") or ""),
                _num(m.get("baseline")),
                _num(m.get("candidate")),
                str(m.get("threshold") or ""),
                f"{m.get('n_baseline')}/{m.get('n_candidate')}",
                f"[bold red]{action}[/]" if action == "rollback" else escape(words),
                escape(str(m.get("summary") or m.get("detail") or "")),
            )
        console.print(metrics)
        if pending:
            console.print(NOT_YET, style="dim", highlight=False)
    loop = result.loop
    if loop is not None:
        console.print(f"postmortem of v2.2: {escape(loop.headline)}", highlight=False)
        console.print(f"regression cases from v2.2's wrong answers: {loop.regression_cases}")
        refused = loop.flawed_refused
        console.print(
            "v2.3 with v2.2's flaw: "
            + (f"refused by the checklist ({escape(refused)})" if refused else "[red]not refused[/]"),
            highlight=False,
        )
        console.print(
            "v2.3 retrained: "
            + (
                f"live (checklist: {escape(str(loop.fixed_checklist))})"
                if loop.fixed_live
                else "[red]not live[/]"
            ),
            highlight=False,
        )
    console.print(f"failed requests: {result.failed_requests}")
    console.print(next_steps(result.workdir, slipway_command()), highlight=False, markup=False, end="")
