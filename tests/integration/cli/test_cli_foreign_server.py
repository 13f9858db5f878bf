"""SLIPWAY_URL at something that is not slipway: every command says so in one sentence, no traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from tests.processes import run_cli
from tests.servers import run_asgi


def server(answer: Callable[[], Response]) -> Starlette:
    async def anything(_request: Request) -> Response:
        return answer()

    return Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])


FOREIGN: dict[str, Callable[[], Response]] = {
    "an HTML page": lambda: HTMLResponse("<html><body><h1>Welcome to nginx!</h1></body></html>"),
    "JSON of another shape": lambda: JSONResponse({"hello": "world", "route": None}),
    "a JSON list": lambda: JSONResponse([1, 2, 3]),
    "another FastAPI app's 404": lambda: JSONResponse({"detail": "Not Found"}, status_code=404),
    "a 500 in plain text": lambda: PlainTextResponse("Internal Server Error", status_code=500),
    "a redirect": lambda: Response(status_code=302, headers={"location": "/login"}),
    "broken JSON": lambda: Response("{not json", media_type="application/json"),
    "an error body with markup": lambda: JSONResponse(
        {"error": {"message": ["[red]not a string"]}}, status_code=409
    ),
}

COMMANDS = [
    ["status"],
    ["history"],
    ["rollback"],
    ["switch", "green"],
    ["reload"],
    ["config", "export"],
    ["deploy", "v2.3", "--no-smoke"],
    ["canary", "status"],
    ["adapters", "rollback"],
]


@pytest.fixture(params=sorted(FOREIGN), ids=lambda name: name.replace(" ", "-"))
def foreign_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with run_asgi(server(FOREIGN[request.param])) as url:
        yield url


#: Every command against the two likeliest mistakes; a few against each of the others (each run is a process).
EVERY_COMMAND = {"an HTML page", "JSON of another shape"}


def test_every_command_says_the_server_does_not_look_like_slipway(
    foreign_url: str, request: pytest.FixtureRequest
) -> None:
    kind = request.node.callspec.params["foreign_url"]
    commands = COMMANDS if kind in EVERY_COMMAND else [["status"], ["rollback"], ["config", "export"]]
    for command in commands:
        out = run_cli(foreign_url, command)
        said = " ".join(out.stderr.split())
        assert out.returncode == 2, f"{command}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
        assert f"the server at {foreign_url} does not look like a slipway gateway:" in said, (command, said)
        assert "Traceback" not in out.stderr, out.stderr
