"""Reading a `--smoke FILE` on the operator's side, so a typo is named before anything is sent."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from slipway.cli.client import err_console
from slipway.core.errors import ConfigError
from slipway.evals.smoke import parse_smoke_cases


def read_smoke_file(path: Path | None) -> str | None:
    """The file's text, checked as smoke cases (the server checks again); exit 2 with the problem."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
        parse_smoke_cases(text, str(path))
    except OSError as exc:
        err_console.print(f"[red]error:[/] cannot read smoke file {escape(str(path))}: {exc.strerror}")
        raise typer.Exit(2) from None
    except ConfigError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    return text
