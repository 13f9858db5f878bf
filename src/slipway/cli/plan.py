"""`slipway plan`: which strategy fits this deployment — shadow, canary or blue-green — and why.

The rules and the article's sentences behind them live in the pure
`slipway.advice` package; this command feeds them. What changed is read
from the adapter registry when `--models` names a model directory: both
versions' recorded metadata (base fingerprint, training examples and data
hash, LoRA shape, a sidecar's `training.method`) say whether it is a base
upgrade, a routine retrain on incrementally updated data, a major retrain,
or the first fine-tune. `--change` and `--stakes` override what is
detected or assumed. Works on files only; no server needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slipway.advice import (
    Advice,
    Change,
    Detection,
    Situation,
    Stakes,
    VersionFacts,
    advise,
    detect_change,
    parse_stakes,
    parse_traffic,
)
from slipway.analysis.thresholds import DEFAULT_THRESHOLDS
from slipway.core.errors import ConfigError, SlipwayError
from slipway.registry.catalog import ADAPTERS_DIR, BASE_DIR, AdapterEntry, Catalog, ModelEntry, file_sha256
from slipway.registry.identity_gguf import recorded_base_key
from slipway.registry.metadata import read_sidecar
from slipway.registry.reader import open_gguf

console = Console()
err_console = Console(stderr=True)

STRATEGY_STYLE = {"shadow": "magenta", "canary": "yellow", "bluegreen": "cyan"}


def plan(
    models: Path | None = typer.Option(
        None,
        "--models",
        help="A model's registry directory (e.g. models/customer-support): detects what changed.",
    ),
    from_version: str | None = typer.Option(
        None, "--from", help="The version in production (default: the one before --to)."
    ),
    to_version: str | None = typer.Option(
        None, "--to", help="The version to deploy (default: the newest in --models)."
    ),
    change: Change | None = typer.Option(
        None, "--change", help="What changed, when not detected or to override the detection."
    ),
    stakes: str | None = typer.Option(
        None,
        "--stakes",
        help="low, medium or high; medical, legal and financial are high. Default: medium.",
    ),
    traffic: str | None = typer.Option(
        None, "--traffic", help="Production requests per day (5000) or a rate (200/h): estimates durations."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Recommend shadow, canary or blue-green for a deployment, with the reasons the source article
    gives (quoted by section) and the commands."""
    with _errors():
        level, domain = parse_stakes(stakes) if stakes else (Stakes.MEDIUM, None)
        per_day = parse_traffic(traffic) if traffic else None
        found = _detect(models, from_version, to_version) if models is not None else None
    if change is None and found is None:
        err_console.print(
            "[red]error:[/] say what changed: --change "
            f"{'|'.join(c.value for c in Change)}, or point --models at a model directory "
            "(e.g. models/customer-support) to detect it"
        )
        raise typer.Exit(2)
    detection = found.detection if found else None
    final_change = change or (detection.change if detection else Change.ADAPTER_RETRAIN)
    version = to_version or (found.to_version if found else None) or "VERSION"
    advice = advise(
        Situation(
            change=final_change,
            stakes=level,
            domain=domain,
            traffic_per_day=per_day,
            version=version,
            stakes_assumed=stakes is None,
            canary_min_samples=DEFAULT_THRESHOLDS.verdict_min_samples(),
        )
    )
    out: dict[str, Any] = {
        "model": found.model if found else None,
        "from": found.from_version if found else from_version,
        "to": version,
        "detected": detection.to_dict() if detection else None,
        "change_source": "--change" if change is not None else "detected",
        **advice.to_dict(),
    }
    if as_json:
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    _render(advice, found, overridden=change is not None)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Found:
    """What the registry said: which versions were compared and what changed between them."""

    model: str
    from_version: str | None
    to_version: str
    detection: Detection


def _detect(models: Path, from_version: str | None, to_version: str | None) -> Found:
    entry = _model(models)
    named = [a for a in entry.adapters if a.name is not None]
    if not named:
        raise ConfigError(
            f"{models} has no adapter versions yet (in {models / ADAPTERS_DIR})",
            hint="register one with `slipway adapters add`, or pass --change first-finetune",
        )
    current = entry.adapter(to_version) if to_version else named[-1]
    if from_version:
        previous: AdapterEntry | None = entry.adapter(from_version)
        if previous is not None and previous.path == current.path:
            raise ConfigError(
                f"--from and --to are the same version ({current.version})", hint="compare two versions"
            )
    else:
        index = named.index(current) if current in named else len(named)
        previous = named[index - 1] if index > 0 else None
    same_size = previous is not None and previous.size == current.size
    prev_facts = _facts(previous, hash_file=same_size) if previous is not None else None
    detection = detect_change(prev_facts, _facts(current, hash_file=same_size))
    return Found(entry.name, previous.version if previous else None, current.version, detection)


def _model(path: Path) -> ModelEntry:
    if not ((path / BASE_DIR).is_dir() or (path / ADAPTERS_DIR).is_dir()):
        inside = Catalog(path).model_names() if path.is_dir() else []
        hint = (
            f"--models names one model: {', '.join(str(path / m) for m in inside)}"
            if inside
            else f"point --models at models/<name>, the directory holding {BASE_DIR}/ and {ADAPTERS_DIR}/"
        )
        raise ConfigError(
            f"{path} is not a model directory (no {BASE_DIR}/ or {ADAPTERS_DIR}/ in it)", hint=hint
        )
    return Catalog(path.parent).model(path.name)


def _facts(entry: AdapterEntry, *, hash_file: bool) -> VersionFacts:
    """The registry's metadata, reduced to what tells changes apart; files of equal size are hashed
    (when not recorded) so an identical file is recognised."""
    meta = entry.metadata()
    training = read_sidecar(entry.path).get("training")
    method = training.get("method") if isinstance(training, dict) else None
    examples = meta.training_examples
    if examples is None and entry.name is not None:
        examples = entry.name.examples
    sha = meta.sha256 or (file_sha256(entry.path) if hash_file else None)
    return VersionFacts(
        version=entry.version,
        base_fingerprint=meta.base_fingerprint,
        base_recorded=None if meta.base_fingerprint else recorded_base_key(open_gguf(entry.path)),
        training_examples=examples,
        training_data_sha256=meta.training_data_sha256,
        method=str(method) if method else None,
        lora_rank=meta.lora_rank,
        lora_alpha=meta.lora_alpha,
        targets=meta.targets,
        sha256=sha,
    )


# --------------------------------------------------------------------------- output


def _render(advice: Advice, found: Found | None, *, overridden: bool) -> None:
    p = advice.situation
    if found is not None:
        compared = f"{found.from_version} → {found.to_version}" if found.from_version else found.to_version
        console.print(f"[bold]{escape(found.model)}[/] {escape(compared)}")
        d = found.detection
        tail = f" [dim](overridden by --change {p.change.value})[/]" if overridden else ""
        console.print(f"detected: [bold]{d.change.value}[/] — {escape(d.change.meaning)}{tail}")
        for why in d.why:
            console.print(f"  · {escape(why)}")
        for caveat in d.caveats:
            console.print(f"  [yellow]?[/] {escape(caveat)}")
    if found is None or overridden:
        console.print(f"change: [bold]{p.change.value}[/] — {escape(p.change.meaning)}")
    where = f" ({p.domain})" if p.domain else ""
    console.print(f"stakes: [bold]{p.stakes.value}[/]{where}{' (assumed)' if p.stakes_assumed else ''}")
    style = STRATEGY_STYLE.get(advice.strategy.value, "bold")
    console.print(f"\nrecommended: [bold {style}]{advice.strategy.value}[/]")
    for reason in advice.reasons:
        console.print(f"  • {escape(reason.text)}")
        quote = reason.quote
        console.print(f'    [dim]article § {escape(quote.section)}: "{escape(quote.text)}"[/]')
    console.print("\n[bold]commands[/]")
    for command in advice.commands:
        console.print(f"  $ {escape(command.line)}")
        console.print(f"    [dim]{escape(command.why)}[/]")
    table = Table(title="how long", title_justify="left", show_edge=False)
    table.add_column("stage")
    table.add_column("time", justify="right")
    table.add_column("detail")
    for stage in advice.stages:
        table.add_row(stage.what, stage.span, escape(stage.detail))
    console.print()
    console.print(table)
    console.print(f"to full traffic: {advice.time_to_full_traffic}")
    console.print("\n[bold]alternatives[/]")
    for alt in advice.alternatives:
        console.print(f"  {alt.strategy.value}: {escape(alt.why_not)}")
    if advice.notes:
        console.print("\n[bold]notes[/]")
        for note in advice.notes:
            console.print(f"  - {escape(note)}")


class _errors:
    """A bad flag or an unreadable registry: the message, what to do, exit 2."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> Literal[False]:
        if isinstance(exc, SlipwayError):
            err_console.print(f"[red]error:[/] {escape(exc.message)}")
            if exc.hint:
                err_console.print(f"what to do: {escape(exc.hint)}")
            raise typer.Exit(2) from exc
        return False
