"""`slipway engine`: the embedded llama.cpp server — where it is, and building it once."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from slipway.backends.engine import (
    ENGINE_ENV_VAR,
    LLAMA_CPP_PYTHON_VERSION,
    EngineInstallError,
    find_llama_server,
    install_llama_server,
)
from slipway.cli.output import ProgressLines, example, make_console

engine_app = typer.Typer(help="The embedded engine: llama.cpp's llama-server.", no_args_is_help=True)
console: Console = make_console(stderr=True)


@engine_app.command(epilog=example("slipway engine install --jobs 2"))
def install(
    force: bool = typer.Option(False, "--force", help="Build again even if a cached build exists."),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", min=1, help="Parallel compile jobs (default: all)."
    ),
) -> None:
    """Build llama-server from the llama-cpp-python sdist once and cache it (minutes on 2 cores)."""
    lines = None if console.is_terminal else ProgressLines(console)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as bars:
        task = bars.add_task(f"llama-server (llama-cpp-python {LLAMA_CPP_PYTHON_VERSION})", total=1.0)

        def progress(stage: str, fraction: float | None) -> None:
            if lines is not None:
                # A CI log never sees a live bar: a line per stage and per 10 % of the compile.
                lines.update(stage, int((fraction or 0.0) * 100), 100)
                return
            bars.update(task, description=stage[:70], completed=fraction if fraction is not None else None)

        try:
            path = install_llama_server(progress=progress, jobs=jobs, force=force)
        except EngineInstallError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    typer.echo(str(path))


@engine_app.command()
def which() -> None:
    """Print the llama-server slipway would run (env SLIPWAY_LLAMA_SERVER, PATH, then the cache)."""
    try:
        found = find_llama_server()
    except EngineInstallError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if found is None:
        console.print(
            f"no llama-server found (not in ${ENGINE_ENV_VAR}, PATH or the cache); "
            "build it with `slipway engine install`"
        )
        raise typer.Exit(1)
    typer.echo(str(found))
