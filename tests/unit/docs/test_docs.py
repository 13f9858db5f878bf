"""The docs name only what exists (STYLE habit 12, datasette's "docs checked by tests").

1. Every HTTP route the server registers (gateway paths and the admin app's
   routes) is documented in docs/api.md as `METHOD /path`, and so is every
   X-Slipway-* header the gateway or admin API reads or writes.
2. Every `slipway ...` command line in a shell code block of README.md or
   docs/*.md names a real command, sub-command and options.

Commands that are documented but not built yet are marked in the docs by a
comment line that starts with `# coming` inside the code block: every command
line after it, to the end of that block, is exempt (and listed, so the docs
never silently describe vapour). A single line can also end with `# coming`.

Top-level commands that other work is adding right now are listed in
ALLOWED_MISSING; the docs may show them unmarked. While one is missing, its
lines are reported by a skipped test (visible with -ra), never passed silently.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from fastapi.routing import APIRoute

from slipway.app import ServeSettings, create_app
from slipway.cli.main import app as cli_app
from slipway.web.admin import create_admin_app
from slipway.web.auth import TokenGuard

ROOT = Path(__file__).resolve().parents[3]
API_DOC = ROOT / "docs" / "api.md"
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Top-level commands the README documents that are being added by issue #3 at the time of writing.
#: Remove an entry once the command exists for good.
ALLOWED_MISSING: dict[str, str] = {}
COMING = "# coming"
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
SEPARATORS = {"|", "||", "&", "&&", ";", "(", ")"}
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")


# ------------------------------------------------------------------ HTTP routes


def documented_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """(method, path) for every route one `slipway serve` process answers."""
    gateway, runtime = create_app(ServeSettings(workdir=tmp_path))
    assert not any(tmp_path.iterdir()), "creating the app must do no I/O (no store, no files)"
    admin = create_admin_app(runtime, TokenGuard(None))
    routes: list[tuple[str, str]] = []
    # GatewayApp keeps its data-plane table as a plain dict (a router would cost microseconds).
    routes.extend(gateway._handlers)
    for route in admin.routes:
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", None)
        assert path is not None, route
        for method in sorted(methods - {"HEAD"}):
            routes.append((method, path))
    assert any(isinstance(r, APIRoute) for r in admin.routes)
    return routes


def test_every_route_is_in_the_api_reference(tmp_path: Path) -> None:
    doc = API_DOC.read_text(encoding="utf-8")
    routes = documented_routes(tmp_path)
    assert ("POST", "/v1/chat/completions") in routes and ("POST", "/admin/rollback") in routes
    missing = [f"{m} {p}" for m, p in routes if f"{m} {p}" not in doc]
    assert not missing, f"document these routes in docs/api.md (as `METHOD /path`): {missing}"


def test_every_slipway_header_is_in_the_api_reference() -> None:
    doc = API_DOC.read_text(encoding="utf-8").lower()
    sources = [*(ROOT / "src/slipway/gateway").glob("*.py"), *(ROOT / "src/slipway/web").glob("*.py")]
    headers: set[str] = set()
    for source in sources:
        headers |= {h.lower() for h in re.findall(r"x[-_]slipway[-_][a-z]+(?:-[a-z]+)*", source.read_text())}
    headers = {h.replace("_", "-") for h in headers}
    assert {"x-slipway-request-id", "x-slipway-slot", "x-slipway-category"} <= headers
    missing = sorted(h for h in headers if h not in doc)
    assert not missing, f"document these headers in docs/api.md: {missing}"


# ------------------------------------------------------------------ CLI commands


@dataclass(frozen=True)
class CommandLine:
    where: str
    words: tuple[str, ...]
    coming: bool

    def __str__(self) -> str:
        return f"{self.where}: {shlex.join(self.words)}"


def shell_lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """(line number, logical line, coming) for every line inside a shell code block."""
    fence: str | None = None
    shell = False
    coming = False
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence, shell, coming = match.group(1), match.group(2).lower() in SHELL_LANGS, False
            continue
        if match and match.group(1).startswith(fence) and not match.group(2):
            fence = None
            continue
        if not shell:
            continue
        stripped = line.strip()
        if stripped.lower().startswith(COMING):
            coming = True
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        logical = " ".join(pending)
        pending = []
        yield start, logical.removeprefix("$ "), coming or logical.rstrip().lower().endswith(COMING)


def slipway_commands(text: str, where: str) -> Iterator[CommandLine]:
    for number, line, coming in shell_lines(text):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        segment: list[str] = []
        for word in [*words, ";"]:
            if word not in SEPARATORS:
                segment.append(word)
                continue
            while segment and ENV_ASSIGNMENT.match(segment[0]):
                segment.pop(0)
            if segment and Path(segment[0]).name == "slipway":
                yield CommandLine(f"{where}:{number}", tuple(segment), coming)
            segment = []


def documented_commands() -> list[CommandLine]:
    found: list[CommandLine] = []
    for path in DOC_FILES:
        found.extend(slipway_commands(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))))
    return found


# Typer builds its own (vendored) click objects, so they are read by their attributes:
# a group has `commands`, a parameter has `param_type_name` and `opts`.


def root_command() -> Any:
    command = typer.main.get_command(cli_app)
    assert isinstance(getattr(command, "commands", None), dict), "the slipway CLI is a group"
    return command


def option_names(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if param.param_type_name == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def problem_with(words: tuple[str, ...], root: Any) -> str | None:
    """Why this command line would not run, or None. Arguments' values are not checked."""
    command = root
    path = ["slipway"]
    rest = list(words[1:])
    while isinstance(getattr(command, "commands", None), dict) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            known = ", ".join(sorted(command.commands))
            return f"`{' '.join(path)}` has no command {name!r} (it has: {known})"
        command = sub
        path.append(name)
    known_options = option_names(command)
    for word in rest:
        if word.startswith("-") and len(word) > 1 and not word[1:2].isdigit():
            option = word.split("=", 1)[0]
            if option not in known_options:
                known = ", ".join(sorted(known_options))
                return f"`{' '.join(path)}` has no option {option} (it has: {known})"
    return None


def missing_but_allowed(line: CommandLine, root: Any) -> bool:
    return len(line.words) > 1 and line.words[1] in ALLOWED_MISSING and line.words[1] not in root.commands


def test_the_docs_show_commands() -> None:
    lines = documented_commands()
    assert len([c for c in lines if not c.coming]) >= 10, "the parser found too few commands: is it broken?"


def test_every_documented_command_exists() -> None:
    root = root_command()
    problems = []
    for line in documented_commands():
        if line.coming or missing_but_allowed(line, root):
            continue
        problem = problem_with(line.words, root)
        if problem:
            problems.append(f"{line}\n    {problem}")
    assert not problems, "the docs show commands that do not exist:\n" + "\n".join(problems)


def test_commands_documented_as_coming() -> None:
    """Lists what the docs promise; fails if a `# coming` line names a command that now exists."""
    root = root_command()
    coming = [line for line in documented_commands() if line.coming]
    for line in coming:
        print(f"documented as coming: {line}")
    built = [str(line) for line in coming if len(line.words) > 1 and problem_with(line.words, root) is None]
    assert not built, f"these exist now; drop their `# coming` marker so the docs test checks them: {built}"


def test_commands_allowed_to_be_missing() -> None:
    """Skips (visibly, with -ra) while a command in ALLOWED_MISSING is documented but not built."""
    root = root_command()
    # An allowance outlives its reason once the command is built or no longer documented.
    stale = sorted(set(ALLOWED_MISSING) & set(root.commands))
    assert not stale, f"built now, drop from ALLOWED_MISSING: {stale}"
    documented = {line.words[1] for line in documented_commands() if len(line.words) > 1}
    unused = sorted(set(ALLOWED_MISSING) - documented)
    assert not unused, f"no longer documented, drop from ALLOWED_MISSING: {unused}"
    waiting = [line for line in documented_commands() if missing_but_allowed(line, root)]
    for line in waiting:
        print(f"documented, not built yet ({ALLOWED_MISSING[line.words[1]]}): {line}")
    if waiting:
        names = sorted({line.words[1] for line in waiting})
        pytest.skip(
            f"documented but not built yet, allowed by ALLOWED_MISSING: {', '.join(names)} "
            f"({len(waiting)} command lines)"
        )


# ------------------------------------------------------------------ the checker itself


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("```bash\nslipway rollback --to blue -r 'why not'\n```", None),
        ("```bash\nSLIPWAY_URL=http://h:1 slipway status --json | jq .route\n```", None),
        ("```bash\nslipway rolback\n```", "has no command 'rolback'"),
        ("```bash\nslipway rollback --too blue\n```", "has no option --too"),
        ("```bash\nslipway sim serve --profile p.yaml --port 1 --bogus &\n```", "has no option --bogus"),
        ("```bash\nslipway config \\\n  exprt\n```", "has no command 'exprt'"),
        ("```\n$ slipway deploy v2 --smok s.jsonl\n```", "has no option --smok"),
    ],
)
def test_the_checker_catches_mistakes(block: str, expected: str | None) -> None:
    (line,) = slipway_commands(block, "example.md")
    problem = problem_with(line.words, root_command())
    if expected is None:
        assert problem is None, problem
    else:
        assert problem is not None and expected in problem, problem


def test_coming_markers_and_other_languages() -> None:
    text = (
        "```bash\nslipway status\n# coming (issue #4):\nslipway canary watch\n```\n"
        "```bash\nslipway shadow report  # coming\nslipway history\n```\n"
        "```python\nslipway = 1\n```\n"
        "`slipway bogus` inline code is not checked\n"
    )
    got = [(" ".join(c.words), c.coming) for c in slipway_commands(text, "example.md")]
    assert got == [
        ("slipway status", False),
        ("slipway canary watch", True),
        ("slipway shadow report", True),
        ("slipway history", False),
    ]
