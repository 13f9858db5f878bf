"""`slipway serve`: gateway, admin API and control loop in one process."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer
from rich.console import Console

from slipway.cli.output import make_console
from slipway.core.errors import SlipwayError
from slipway.core.hosts import host_name_problem, normal_name

console: Console = make_console(stderr=True)


def serve(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Routing YAML (a plain model_routing.yaml works as-is)."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8080, help="Port for the gateway and the admin API."),
    store: str | None = typer.Option(
        None,
        "--store",
        help="Store URL; default sqlite under ./.slipway/ (postgresql+psycopg://... for replicas).",
    ),
    no_watch: bool = typer.Option(False, "--no-watch", help="Do not apply config file edits automatically."),
    apply_config: bool = typer.Option(
        False,
        "--apply-config",
        help="Apply the config file's routes at start even if the store already serves other routes "
        "(by default the store's routes are kept, and the differences are logged and shown by status).",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        metavar="NAME",
        help="A name clients use for this server (a load balancer's DNS name), besides localhost, IP "
        "addresses and --host; repeatable. The admin API and the dashboard refuse other Host headers.",
    ),
    route_poll: float = typer.Option(
        1.0,
        "--route-poll",
        min=0.05,
        max=60.0,
        metavar="SECONDS",
        help="How often this replica reads the store's route version, to follow changes other replicas "
        "commit (on PostgreSQL, notifications usually bring them sooner).",
    ),
    no_route_notify: bool = typer.Option(
        False,
        "--no-route-notify",
        help="Follow other replicas' route changes by polling only (no PostgreSQL notifications).",
    ),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run the gateway (OpenAI and Ollama APIs), the admin API and the control loop."""
    from slipway.app import ServeSettings, check_admin_exposure
    from slipway.app import serve as run

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    if config is not None and not config.exists():
        console.print(
            f"[red]error:[/] config file {config} does not exist; pass the path of your routing YAML"
        )
        raise typer.Exit(2)
    for name in allowed_host:
        problem = host_name_problem(name)
        if problem:
            console.print(f"[red]error:[/] --allowed-host: {problem}")
            raise typer.Exit(2)
    settings = ServeSettings(
        config_path=config,
        store_url=store,
        host=host,
        port=port,
        admin_token=os.environ.get("SLIPWAY_ADMIN_TOKEN") or None,
        watch_config=not no_watch,
        workdir=Path.cwd(),
        allowed_hosts=tuple(normal_name(n) for n in allowed_host),
        route_poll_s=route_poll,
        route_notifications=not no_route_notify,
        apply_config_at_start=apply_config,
    )
    try:
        check_admin_exposure(settings)
    except SlipwayError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"slipway starting on http://{host}:{port} (OpenAI: /v1, Ollama: /api, admin: /admin, docs: /docs)"
    )
    try:
        run(settings)
    except SlipwayError as exc:
        console.print(f"[red]error:[/] slipway did not start: {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass
