"""`slipway sim`: run the simulated model server for drills, demos and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slipway.backends.sim import load_profile, serve_sim
from slipway.cli.output import example
from slipway.core.errors import ConfigError

sim_app = typer.Typer(
    help="Simulated OpenAI-compatible model server with declared accuracy, latency and failures.",
    no_args_is_help=True,
)


@sim_app.callback()
def _group() -> None:
    """Keeps `serve` a named sub-command even while it is the only one."""


@sim_app.command(
    epilog=example("slipway sim serve --profile examples/sim/support-classifier.yaml --port 11434")
)
def serve(
    profile: Annotated[Path, typer.Option("--profile", help="Profile YAML (see examples/sim/).")],
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")],
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for reproducible answers (overrides the profile's).")
    ] = None,
) -> None:
    """Serve a profile on http://HOST:PORT/v1 until interrupted."""
    try:
        loaded = load_profile(profile)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    categories = ", ".join(loaded.categories) or "default only"
    typer.echo(
        f"sim {loaded.model} ({loaded.version}) on http://{host}:{port}/v1 — categories: {categories}",
        err=True,
    )
    serve_sim(loaded, host, port, seed=seed)


if __name__ == "__main__":
    sim_app()
