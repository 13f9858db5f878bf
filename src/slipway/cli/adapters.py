"""`slipway adapters`: the adapter registry on disk — list, add, show, validate.

Works on files, no server needed: `--models-dir` (or SLIPWAY_MODELS_DIR,
default ./models) is the registry root, `models/<name>/{base,adapters}/`.
An adapter is a GGUF file (checked against a GGUF base, for llama-server)
or a PEFT directory (checked against a Hugging Face base directory and
`--max-rank`, for vLLM). `validate` exits 0 when no check failed and 1 when
one did; an adapter whose base cannot be checked (it records neither
slipway's fingerprint nor a base model identity) is a warning there, and a
failure with `--strict`. `add` refuses an adapter that fails validation
against the model's base, or whose base is unknown unless the operator
vouches for it with `--trust-base`. With `--load`, a GGUF adapter is also
loaded in a throwaway llama-server and a PEFT one in the vLLM at
`--endpoint`, and asked one prompt; without it that check is shown as
skipped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slipway.backends.engine import find_llama_server
from slipway.backends.engine.probe import probe_adapter
from slipway.backends.vllm_probe import probe_vllm_adapter
from slipway.cli.client import URL_OPTION
from slipway.cli.output import make_console
from slipway.core.errors import FileCheckError, GGUFError, SlipwayError, ValidationError
from slipway.registry.catalog import MODELS_DIR_ENV, AdapterEntry, Catalog, ModelEntry
from slipway.registry.identity import BaseIdentity, IdentityState, default_truster
from slipway.registry.loadable import DEFAULT_PROMPT, AdapterProbe, add_loadable_check, skipped_loadable
from slipway.registry.metadata import AdapterMetadata
from slipway.registry.peft_validate import DEFAULT_MAX_LORA_RANK, is_peft_dir, validate_peft_adapter
from slipway.registry.report import CheckStatus, ValidationReport
from slipway.registry.validate import validate_adapter

console: Console = make_console()
err_console: Console = make_console(stderr=True)

adapters_app = typer.Typer(
    help="LoRA adapter versions on disk (GGUF files, PEFT directories): list, add, show, validate. "
    "Versions are never deleted.",
    no_args_is_help=True,
)

ModelsDir = Annotated[
    Path,
    typer.Option(
        "--models-dir",
        envvar=MODELS_DIR_ENV,
        help="Registry root holding <name>/base/ (*.gguf, Hugging Face directories) and <name>/adapters/ "
        "(*.gguf, PEFT directories).",
        show_envvar=True,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Load = Annotated[
    bool,
    typer.Option(
        "--load/--no-load",
        help="Also load it in llama-server and run one prompt (needs the engine).",
    ),
]
Prompt = Annotated[str, typer.Option("--prompt", help="The prompt for the --load check.")]
MaxRank = Annotated[
    int,
    typer.Option(
        "--max-rank",
        min=1,
        max=4096,
        help="PEFT: the engine's max LoRA rank (vLLM's --max-lora-rank; vLLM's default is 16).",
    ),
]
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="PEFT with --load: the running vLLM's URL (started with --enable-lora and "
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); the adapter is loaded there under a throwaway name.",
    ),
]

_STATUS_MARK = {
    CheckStatus.PASSED: "[green]pass[/]",
    CheckStatus.FAILED: "[red]FAIL[/]",
    CheckStatus.SKIPPED: "[dim]skip[/]",
    CheckStatus.WARNED: "[yellow]warn[/]",
}


# --------------------------------------------------------------------------- commands


@adapters_app.command("list")
def list_adapters(
    models_dir: ModelsDir = Path("models"),
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    as_json: AsJson = False,
) -> None:
    """Every model's bases and adapter versions, with size, disk use and base fingerprint match."""
    catalog = Catalog(models_dir)
    with _errors():
        models = [catalog.model(model)] if model else catalog.models()
    rows = [_model_dict(m) for m in models]
    total = sum(m["disk"] for m in rows)
    if as_json:
        typer.echo(json.dumps({"models_dir": str(models_dir), "models": rows, "disk": total}, indent=2))
        return
    if not rows:
        console.print(
            f"no models in {models_dir} (expected {models_dir}/<name>/base/*.gguf and "
            f"{models_dir}/<name>/adapters/*.gguf; set --models-dir or {MODELS_DIR_ENV})"
        )
        return
    table = Table()
    for col in ("model", "version", "date", "examples", "size", "base"):
        table.add_column(col, justify="right" if col in ("examples", "size") else "left")
    warnings: list[str] = []
    for m in rows:
        for base in m["bases"]:
            fp = base["fingerprint"]
            table.add_row(
                m["name"],
                f"[bold]base[/] {base['file']}{'/' if base['kind'] == 'peft' else ''}",
                "",
                "",
                _size(base["size"]),
                f"{fp[:12]}…" if fp else "[red]unreadable[/]",
            )
        for a in m["adapters"]:
            table.add_row(
                m["name"],
                (a["version"] + (" (peft)" if a["kind"] == "peft" else ""))
                if not a["name_error"]
                else f"[yellow]{a['file']}[/]",
                a["date"] or "",
                str(a["examples"]) if a["examples"] is not None else "",
                _size(a["size"]),
                _match_text(a),
            )
            if a["name_error"]:
                warnings.append(escape(f"{m['name']}/{a['file']}: {a['name_error']}"))
    console.print(table)
    for text in warnings:
        console.print(f"[yellow]warning:[/] {text}")
    files = sum(len(m["bases"]) + len(m["adapters"]) for m in rows)
    console.print(f"disk use: {_size(total)} in {len(rows)} model(s), {files} file(s) under {models_dir}")


@adapters_app.command("add")
def add(
    file: Annotated[Path, typer.Argument(help="The adapter .gguf, or PEFT directory, to register.")],
    model: Annotated[str, typer.Option("--model", help="Model it belongs to (models/<model>/).")],
    version: Annotated[
        str | None, typer.Option("--version", help="Version label, e.g. v2.3 (default: from the name).")
    ] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="Training date YYYY-MM-DD (default: name or metadata).")
    ] = None,
    examples: Annotated[
        int | None, typer.Option("--examples", help="Training examples (default: name or metadata).")
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="Which base to check against, if the model has several.")
    ] = None,
    trust_base: Annotated[
        bool,
        typer.Option(
            "--trust-base",
            help="The adapter records nothing that shows its base and you vouch it was trained on this "
            "base: record the base's fingerprint in its sidecar, with who vouched (--by) and when.",
        ),
    ] = False,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who vouches for the base with --trust-base (default: your OS user)."),
    ] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Free text kept with the version.")] = None,
    load: Load = False,
    prompt: Prompt = DEFAULT_PROMPT,
    max_rank: MaxRank = DEFAULT_MAX_LORA_RANK,
    endpoint: Endpoint = None,
    models_dir: ModelsDir = Path("models"),
    as_json: AsJson = False,
) -> None:
    """Validate FILE against the model's base and, if every check passes, store it as a new version."""
    catalog = Catalog(models_dir)
    with _errors():
        trained = _parse_date(date)
        plan = catalog.plan_add(
            file,
            model,
            version=version,
            date=trained,
            examples=examples,
            base=base,
            trust_base=trust_base,
            trusted_by=by if by is not None else default_truster(),
            notes=notes,
            max_lora_rank=max_rank,
        )
    if plan.report.ok and not plan.ok:
        # Refused either way: starting an engine to load it would only cost time.
        report = plan.report.with_check(skipped_loadable("its base is unknown, so it is not added"))
    else:
        report = _with_loadable(plan.report, load, prompt, endpoint if plan.kind == "peft" else _GGUF)
    if not report.settled:
        _print_report(report, as_json)
        why = "its base is unknown; " if report.ok else ""
        err_console.print(f"[red]refused:[/] {why}{plan.target.name} was not added to {model}.")
        raise typer.Exit(1)
    with _errors():
        entry = catalog.commit_add(plan)
    if as_json:
        body = {"added": str(entry.path), "version": entry.version, "report": report.to_dict()}
        body["notes"] = list(plan.notes)
        typer.echo(json.dumps(body, indent=2))
        return
    _print_report(report, False)
    for note in plan.notes:
        console.print(f"note: {note}")
    console.print(f"added [green]{entry.version}[/] to {model}: {entry.path} ({_size(entry.size)})")


@adapters_app.command("show")
def show(
    version: Annotated[str, typer.Argument(help="Version label (v2.1) or file name.")],
    model: Annotated[str, typer.Option("--model", help="Model the version belongs to.")],
    models_dir: ModelsDir = Path("models"),
    as_json: AsJson = False,
) -> None:
    """One version: its file, training metadata, evaluation results, notes and base match."""
    catalog = Catalog(models_dir)
    with _errors():
        entry_model = catalog.model(model)
        entry = entry_model.adapter(version)
        meta = entry.metadata()
    body = _adapter_dict(entry_model, entry, meta)
    digest = entry.content_sha256()
    body["sha256"] = digest
    body["sha256_recorded"] = meta.sha256
    body["metadata"] = meta.to_dict()
    if as_json:
        typer.echo(json.dumps(body, indent=2, default=str))
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    integrity = ""
    if meta.sha256:
        integrity = (
            " [green](matches when added)[/]" if meta.sha256 == digest else " [red](CHANGED since added)[/]"
        )
    rows: list[tuple[str, str]] = [
        ("model", model),
        ("version", entry.version),
        ("directory (PEFT)" if entry.kind == "peft" else "file", str(entry.path)),
        ("trained", body["date"] or "?"),
        ("examples", str(body["examples"]) if body["examples"] is not None else "?"),
        ("size", f"{_size(entry.size)} ({_size(entry.disk)} on disk)"),
        ("sha256", digest + integrity),
        ("base", _match_text(body)),
        ("base identity", body["base_identity_summary"] or ""),
        ("base fingerprint", meta.base_fingerprint or "not recorded"),
        ("training data", _training_text(meta)),
        ("created", meta.created or "?"),
        ("lora", f"rank {meta.lora_rank}, alpha {meta.lora_alpha}, targets {', '.join(meta.targets) or '-'}"),
        ("description", meta.description or ""),
        ("eval", ", ".join(f"{k} {v}" for k, v in sorted(meta.eval.items())) or "none recorded"),
        ("notes", meta.notes or ""),
        ("sidecar", str(entry.sidecar) if entry.sidecar else "none"),
    ]
    if meta.added_at:
        rows.append(("added", f"{meta.added_at} from {meta.source or '?'}"))
    for key, label in rows:
        table.add_row(key, label)
    console.print(table)
    for attr, (in_gguf, in_sidecar) in meta.conflicts.items():
        console.print(
            f"[yellow]warning:[/] {attr}: the GGUF says {in_gguf!r}, the sidecar {in_sidecar!r} (GGUF used)"
        )


@adapters_app.command("trust")
def trust(
    version: Annotated[
        str, typer.Argument(help="Version label (v2.1) or file name, already in the registry.")
    ],
    model: Annotated[str, typer.Option("--model", help="Model the version belongs to.")],
    base: Annotated[
        str | None, typer.Option("--base", help="Which base you vouch for, if the model has several.")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who vouches (default: your OS user).")] = None,
    models_dir: ModelsDir = Path("models"),
    as_json: AsJson = False,
) -> None:
    """Vouch that a version already in the registry was trained on this base (it records nothing that
    shows it): the base's fingerprint goes into its sidecar with who vouched and when. A version whose
    base is verified needs nobody's word; one trained for another base is refused."""
    catalog = Catalog(models_dir)
    with _errors():
        entry, identity = catalog.trust(model, version, base=base, trusted_by=by)
    if as_json:
        body = {"version": entry.version, "path": str(entry.path), "identity": identity.to_dict()}
        typer.echo(json.dumps(body, indent=2))
        return
    if identity.trust is not None:
        console.print(
            f"{entry.version}: base recorded on the word of {identity.trust.by} ({identity.trust.at})"
        )
    else:
        console.print(f"{entry.version}: nothing recorded on your word, {identity.summary}")


@adapters_app.command("validate")
def validate(
    adapter: Annotated[Path, typer.Argument(help="The adapter .gguf, or PEFT directory, to check.")],
    base: Annotated[
        Path,
        typer.Option(
            "--base", help="The base it will run on: a .gguf, or for PEFT the Hugging Face model directory."
        ),
    ],
    load: Load = False,
    prompt: Prompt = DEFAULT_PROMPT,
    max_rank: MaxRank = DEFAULT_MAX_LORA_RANK,
    endpoint: Endpoint = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Also exit 1 when the base cannot be checked (a warning otherwise)."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Check ADAPTER against BASE: every check with its result and timing.

    Exit 0 when no check failed (an unknown base is a warning), 1 when one did or, with --strict,
    when the base could not be checked.
    """
    if is_peft_dir(adapter):
        report = validate_peft_adapter(adapter, base, max_lora_rank=max_rank)
        report = _with_loadable(report, load, prompt, endpoint)
    else:
        report = validate_adapter(adapter, base)
        report = _with_loadable(report, load, prompt, _GGUF)
    _print_report(report, as_json)
    if not report.ok or (strict and report.warnings):
        raise typer.Exit(1)


# --------------------------------------------------------------------------- helpers


@adapters_app.command("rollback")
def rollback(
    to: str | None = typer.Option(
        None, "--to", help="Version (v2.1), file name or path; default: the previous adapter."
    ),
    reason: str = typer.Option("manual adapter rollback", "--reason", "-r", help="Recorded in history."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Move traffic even if the slot fails its readiness check (recorded in history).",
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Serve an earlier adapter version now: a route change on the warm engine, no reload."""
    import time

    from slipway.cli.client import AdminClient
    from slipway.cli.routes import checked
    from slipway.core.names import check_label

    checked(to, check_label, "adapter")
    t0 = time.perf_counter()
    out = AdminClient().post("/admin/adapters/rollback", json={"to": to, "reason": reason, "force": force})
    ms = (time.perf_counter() - t0) * 1000
    console.print(
        f"adapter rolled back: slot {out['from']} -> [green]{out['to']}[/] serving "
        f"{escape(str(out['version']))} (route v{out['route_version']}, {ms:.0f} ms)"
    )


#: `_with_loadable`'s engine for a GGUF adapter: a throwaway llama-server, not a vLLM endpoint.
_GGUF = "gguf"


def _with_loadable(
    report: ValidationReport, load: bool, prompt: str, endpoint: str | None
) -> ValidationReport:
    """`endpoint`: `_GGUF` for llama-server, else the vLLM URL for a PEFT directory (None: not given)."""
    if not load:
        return asyncio.run(add_loadable_check(report, None, unavailable="not asked (use --load)"))
    if endpoint != _GGUF:
        if endpoint is None:
            unavailable = "no vLLM to load it in: pass --endpoint URL of a vLLM started with --enable-lora"
            return asyncio.run(add_loadable_check(report, None, unavailable=unavailable))
        vllm_probe: AdapterProbe = functools.partial(probe_vllm_adapter, endpoint)
        return asyncio.run(add_loadable_check(report, vllm_probe, prompt=prompt))
    engine = find_llama_server()
    probe: AdapterProbe | None = None
    unavailable = (
        "llama-server not found: run `slipway engine install`, put it on PATH or set SLIPWAY_LLAMA_SERVER"
    )
    if engine is not None:
        probe = functools.partial(probe_adapter, binary=engine)
    report = asyncio.run(add_loadable_check(report, probe, prompt=prompt, unavailable=unavailable))
    if engine is None and report.ok:
        err_console.print(f"[red]error:[/] --load: {unavailable}")
        raise typer.Exit(2)
    return report


def _print_report(report: ValidationReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    console.print(f"[bold]{escape(str(report.adapter))}[/] against base [bold]{escape(str(report.base))}[/]")
    table = Table()
    for col in ("check", "result", "ms", "detail"):
        table.add_column(col, justify="right" if col == "ms" else "left", overflow="fold")
    for check in report.checks:
        ms = f"{check.seconds * 1000:.1f}" if check.status is not CheckStatus.SKIPPED else ""
        table.add_row(check.name, _STATUS_MARK[check.status], ms, escape(check.detail))
    console.print(table)
    for check in report.failures:
        error = check.error
        console.print(f"[red]✗ {check.name}[/]: {escape(check.detail)}")
        if error is not None:
            if error.found is not None:
                console.print(f"    found:    {escape(error.found)}")
            if error.expected is not None:
                console.print(f"    expected: {escape(error.expected)}")
            if error.hint:
                console.print(f"    what to do: {escape(error.hint)}")
    for check in report.warnings:
        console.print(f"[yellow]warning: {check.name}[/]: {escape(check.detail)}")
        if check.error is not None and check.error.hint:
            console.print(f"    what to do: {escape(check.error.hint)}")
    if not report.ok:
        verdict = f"[red]invalid[/] ({len(report.failures)} check(s) failed)"
    elif report.warnings:
        verdict = f"[yellow]valid, with {len(report.warnings)} warning(s)[/]"
    else:
        verdict = "[green]valid[/]"
    console.print(f"{verdict} in {report.seconds * 1000:.1f} ms")


def _model_dict(model: ModelEntry) -> dict[str, Any]:
    fingerprints = model.base_fingerprints()
    adapters = []
    for entry in model.adapters:
        try:
            meta: AdapterMetadata | None = entry.metadata()
            problem = None
        except (GGUFError, ValidationError) as exc:
            meta, problem = None, str(exc)
        adapters.append(_adapter_dict(model, entry, meta, problem))
    return {
        "name": model.name,
        "disk": model.disk,
        "size": model.size,
        "bases": [
            {
                "file": b.path.name,
                "kind": b.kind,
                "size": b.size,
                "disk": b.disk,
                "fingerprint": fingerprints.get(b.path),
            }
            for b in model.bases
        ],
        "adapters": adapters,
    }


def _adapter_dict(
    model: ModelEntry, entry: AdapterEntry, meta: AdapterMetadata | None, problem: str | None = None
) -> dict[str, Any]:
    identities: dict[Path, BaseIdentity] = {}
    if problem is None:
        try:
            identities = model.identities(entry)
        except (GGUFError, ValidationError) as exc:
            problem = str(exc)
    verified = {p: i for p, i in identities.items() if i.verified}
    mismatched = {p: i for p, i in identities.items() if i.state is IdentityState.MISMATCH}
    deciding = next(iter({**verified, **mismatched, **identities}.values()), None)
    if problem is not None:
        status = "unreadable"
    elif verified:
        status = "trusted" if all(i.trust is not None for i in verified.values()) else "verified"
    elif mismatched and len(mismatched) == len(identities):
        status = "mismatch"
    else:
        status = "unknown"
    trust = deciding.trust if deciding is not None and status == "trusted" else None
    return {
        "version": entry.version,
        "kind": entry.kind,
        "file": entry.path.name,
        "date": entry.name.date.isoformat() if entry.name else None,
        "examples": entry.name.examples if entry.name else None,
        "size": entry.size,
        "disk": entry.disk,
        "base_fingerprint": meta.base_fingerprint if meta is not None else None,
        "base_match": [p.name for p in verified],
        "base_status": status,
        "base_trusted": trust.to_dict() if trust is not None else None,
        "base_identity_summary": deciding.summary if deciding is not None else None,
        "problem": problem,
        "name_error": entry.name_error.reason if entry.name_error else None,
    }


def _match_text(adapter: dict[str, Any]) -> str:
    status = adapter["base_status"]
    bases = escape(", ".join(adapter["base_match"]))
    if status == "verified":
        return f"[green]✓ {bases}[/]"
    if status == "trusted":
        trust = adapter["base_trusted"] or {}
        return (
            f"[green]✓ {bases}[/] [yellow](trusted by {escape(str(trust.get('by')))}, {trust.get('at')})[/]"
        )
    if status == "mismatch":
        return "[red]✗ trained for another base[/]"
    if status == "unknown":
        return "[yellow]? unknown: not recorded[/]"
    return f"[red]! {escape(adapter['problem'])}[/]"


def _training_text(meta: AdapterMetadata) -> str:
    parts = []
    if meta.training_examples is not None:
        parts.append(f"{meta.training_examples} examples")
    if meta.training_data_bytes is not None:
        parts.append(_size(meta.training_data_bytes))
    if meta.training_data_sha256:
        parts.append(f"sha256 {meta.training_data_sha256}")
    return ", ".join(parts) or "not recorded"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _parse_date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date in YYYY-MM-DD form", param_hint="--date") from None


class _errors:
    """Print a slipway error (message, then what to do) and exit: 1 for a refused file, 2 otherwise."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> Literal[False]:
        if isinstance(exc, SlipwayError):
            err_console.print(f"[red]error:[/] {escape(exc.message)}")
            if exc.hint:
                err_console.print(f"what to do: {escape(exc.hint)}")
            raise typer.Exit(1 if isinstance(exc, FileCheckError) else 2) from exc
        return False
