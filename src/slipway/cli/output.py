"""How the CLI writes: consoles that do not squeeze piped output, help that reads plainly, progress
that a CI log can follow."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console

#: Width for output that goes to a file or a pipe: wide enough that no table is squeezed (Rich's
#: default there is 80 columns, which cut `version` to `versi…` and split URLs across lines).
PIPE_WIDTH = 1000


def make_console(*, stderr: bool = False) -> Console:
    """A console for a terminal as Rich sizes it; for a pipe or a file, as wide as the output needs
    (unless COLUMNS says otherwise)."""
    stream = sys.stderr if stderr else sys.stdout
    if not stream.isatty() and not os.environ.get("COLUMNS"):
        return Console(stderr=stderr, width=PIPE_WIDTH)
    return Console(stderr=stderr)


class ProgressLines:
    """Progress for a reader that is not a terminal (a CI log): one line when a stage starts and one
    for every `step` percent done, instead of a live bar that such a reader never sees."""

    def __init__(self, console: Console, step: int = 10) -> None:
        self.console = console
        self.step = step
        self._shown: dict[str, int] = {}

    def update(self, label: str, done: int, total: int) -> None:
        pct = int(done * 100 / total) if total > 0 else 0
        bucket = min(pct, 100) // self.step * self.step
        last = self._shown.get(label)
        if last is not None and bucket <= last:
            return
        self._shown[label] = bucket
        self.console.print(f"{label}: {bucket} % ({done}/{total})", highlight=False, markup=False)


def _plain_help() -> None:
    """Typer's help shows `<bool>` after every flag and `{slot}` for a required argument; show
    flags bare and arguments in capitals (`SLOT`, `[SLOT]`), as the docstrings name them."""
    from typer import core

    def usage_name(self: Any) -> str:
        name = str(self.display_name_raw).upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def rich_name(self: Any) -> str:
        return str(self.display_name_raw).upper() + (
            "..." if self.metavar is None and self.nargs != 1 else ""
        )

    original = core.TyperOption.display_type_rich

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.is_flag:
            return None
        return original(self, ctx)

    core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
    core.TyperArgument._rich_display_name = rich_name  # type: ignore[method-assign]
    core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]


def example(command: str) -> str:
    """A help epilog with one example command line."""
    return f"Example: {command}"


_plain_help()
