"""The CLI's way to a running server: SLIPWAY_URL and SLIPWAY_ADMIN_TOKEN.

Errors come back as slipway's JSON error bodies and are printed as the
server wrote them (what was wrong, what to do), with a non-zero exit.

SLIPWAY_URL can point at anything: another service, a proxy's HTML error
page, an older slipway. Every answer is checked for the shape slipway gives
(a JSON object, an error body with a message, the keys a command reads), and
anything else ends in one clear sentence, "the server at URL does not look
like a slipway gateway: ...", instead of a TypeError from deep in a command.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import socket
from collections.abc import Iterator
from typing import Any, Literal, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from slipway.cli.output import make_console
from slipway.core.names import LABEL_MAX

DEFAULT_URL = "http://127.0.0.1:8080"
err_console: Console = make_console(stderr=True)
#: The media type of a streamed answer (one JSON object per line).
NDJSON = "application/x-ndjson"
#: How long a streamed answer may stay silent before the CLI gives up (the server speaks every 10 s).
STREAM_SILENCE_S = 60.0
#: Statuses slipway's admin API answers with FastAPI's own `{"detail": ...}` body (auth, validation).
_DETAIL_STATUSES = {400, 401, 403, 409, 413, 415, 422, 429, 503}
_NOT_LABEL = re.compile(r"[^ -~]")

Expect = Literal["json", "text", "any"]


#: The server named by `--url` on this command line, if any (it wins over SLIPWAY_URL).
_url_given: str | None = None


def server_url() -> str:
    url = (_url_given or os.environ.get("SLIPWAY_URL") or DEFAULT_URL).strip().rstrip("/")
    # A bare host:port, as slot endpoints are written, means http://host:port.
    return url if "://" in url else f"http://{url}"


def _take_url(value: str | None) -> str | None:
    global _url_given
    if value:
        _url_given = value
    return value


#: `--url` for every command that talks to a running server (`url: str | None = URL_OPTION`).
URL_OPTION: Any = typer.Option(
    None,
    "--url",
    envvar="SLIPWAY_URL",
    metavar="URL",
    callback=_take_url,
    expose_value=False,
    show_default=False,
    help=f"The running slipway server to talk to (default: $SLIPWAY_URL, else {DEFAULT_URL}).",
)


def actor() -> str:
    """Who runs the command, for the history; held to the label rule the server applies to it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    text = _NOT_LABEL.sub("?", f"{user}@{socket.gethostname()} (cli)")
    return text[:LABEL_MAX]


def _snippet(text: str, limit: int = 80) -> str:
    """The start of a foreign answer, safe to print: one line, escaped, short."""
    flat = " ".join(text.split())
    return repr(flat[:limit] + ("…" if len(flat) > limit else ""))


#: The server whose JSON this command has read, if any (see `slipway.cli.main.main`).
_answered_by: str | None = None


def answered_by() -> str | None:
    return _answered_by


class Answer(dict[str, Any]):
    """A JSON object from the server. A key a command needs and the server left out means the
    server is not slipway (or not this version of it): say so instead of raising KeyError."""

    where = ""

    def __missing__(self, key: str) -> Any:
        not_slipway(self.where, f"its answer has no {key!r} field")


def say_not_slipway(url: str, detail: str) -> None:
    err_console.print(
        f"[red]error:[/] the server at {escape(url)} does not look like a slipway gateway: {escape(detail)}",
        highlight=False,
    )
    err_console.print(
        "  hint: give --url (or SLIPWAY_URL) the address `slipway serve` listens on "
        f"(default {DEFAULT_URL}), and check that its version has this command",
        highlight=False,
    )


def not_slipway(url: str, detail: str) -> NoReturn:
    say_not_slipway(url, detail)
    raise typer.Exit(2)


def feedback_headers() -> dict[str, str]:
    """What labels sent by the CLI carry: the feedback token if set here, else the admin token."""
    token = os.environ.get("SLIPWAY_FEEDBACK_TOKEN") or os.environ.get("SLIPWAY_ADMIN_TOKEN")
    return {"authorization": f"Bearer {token}"} if token else {}


class AdminClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 600.0) -> None:
        self.url = (url or server_url()).rstrip("/")
        token = token if token is not None else os.environ.get("SLIPWAY_ADMIN_TOKEN")
        headers = {"x-slipway-actor": actor()}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, *, expect: Expect = "json", **kwargs: Any) -> Any:
        """The answer: a JSON object (`expect="json"`), text (`"text"`), or whichever came (`"any"`)."""
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            # The server takes changes only as JSON, body or not: a web page cannot send that cross-site.
            kwargs["headers"] = {"content-type": "application/json", **(kwargs.get("headers") or {})}
        with self._talking():
            resp = self._client.request(method, path, **kwargs)
        what = f"{method.upper()} {path}"
        if resp.status_code >= 400:
            self._fail(resp, what)
        ctype = resp.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            data = self._json(resp, what)
            if expect == "text" or not isinstance(data, dict):
                shape = "a JSON object" if expect == "text" else f"a JSON {type(data).__name__}"
                wanted = "text" if expect == "text" else "a JSON object"
                not_slipway(self.url, f"{what} answered {shape} where slipway answers {wanted}")
            return data
        plain = ctype.startswith(("text/plain", "text/yaml", "application/yaml", "application/x-yaml"))
        if expect == "json" or resp.status_code != 200 or (expect == "text" and not plain):
            wanted = "text" if expect == "text" else "JSON"
            not_slipway(
                self.url,
                f"{what} answered HTTP {resp.status_code} with {ctype or 'no content type'} "
                f"{_snippet(resp.text)} where slipway answers {wanted}",
            )
        return resp.text

    @contextlib.contextmanager
    def _talking(self, *, silence: str = "") -> Iterator[None]:
        """Transport failures as the CLI's one-line errors; `silence`: what a read timeout means."""
        try:
            yield
        except httpx.ConnectError:
            err_console.print(
                f"[red]error:[/] no slipway server answers at {self.url}. Start one with "
                "`slipway serve --config slipway.yaml`, or give its address with --url or SLIPWAY_URL."
            )
            raise typer.Exit(2) from None
        except httpx.ReadTimeout:
            if not silence:
                raise
            err_console.print(f"[red]error:[/] {silence}")
            raise typer.Exit(2) from None
        except httpx.HTTPError as exc:
            err_console.print(f"[red]error:[/] talking to {self.url}: {exc.__class__.__name__}: {exc}")
            raise typer.Exit(2) from None

    def stream_lines(
        self, path: str, body: Any, *, silence_s: float = STREAM_SILENCE_S, silence: str
    ) -> Iterator[dict[str, Any]]:
        """POST `body` asking for a streamed answer: its JSON lines, each as it arrives.

        A server that says nothing for `silence_s` (it sends a line at least
        every few seconds while it works) is given up on with `silence`.
        """
        what = f"POST {path}"
        headers = {"content-type": "application/json", "accept": NDJSON}
        timeout = httpx.Timeout(30.0, read=silence_s)
        with (
            self._talking(silence=silence),
            self._client.stream("POST", path, json=body, headers=headers, timeout=timeout) as resp,
        ):
            if resp.status_code >= 400:
                resp.read()
                self._fail(resp, what)
            if not resp.headers.get("content-type", "").startswith(NDJSON):
                resp.read()
                not_slipway(
                    self.url, f"{what} answered {_snippet(resp.text)} where slipway streams JSON lines"
                )
            for line in resp.iter_lines():
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    not_slipway(self.url, f"{what} streamed a line that is not JSON: {_snippet(line)}")
                if not isinstance(item, dict):
                    not_slipway(self.url, f"{what} streamed {_snippet(line)} where slipway streams objects")
                yield item

    def _json(self, resp: httpx.Response, what: str) -> Any:
        def hook(pairs: list[tuple[str, Any]]) -> Answer:
            answer = Answer(pairs)
            answer.where = self.url
            return answer

        global _answered_by
        try:
            data = json.loads(resp.text, object_pairs_hook=hook)
            _answered_by = self.url
            return data
        except ValueError:
            not_slipway(self.url, f"{what} answered with broken JSON {_snippet(resp.text)}")

    def _fail(self, resp: httpx.Response, what: str) -> None:
        status = resp.status_code
        ctype = resp.headers.get("content-type", "")
        if not ctype.startswith("application/json"):
            not_slipway(
                self.url,
                f"{what} answered HTTP {status} with {ctype or 'no content type'} {_snippet(resp.text)}",
            )
        body = self._json(resp, what)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            report = error.get("report")
            if isinstance(report, dict) and isinstance(report.get("text"), str):
                # The details first, so the closing error and hint are what the operator reads last.
                err_console.print(report["text"], markup=False, highlight=False)
            err_console.print(f"[red]error:[/] {escape(error['message'])}", highlight=False)
            if isinstance(error.get("hint"), str):
                err_console.print(f"  hint: {escape(error['hint'])}", highlight=False)
            raise typer.Exit(1)
        detail = body.get("detail") if isinstance(body, dict) else None
        if detail is None or status not in _DETAIL_STATUSES:
            # FastAPI's {"detail": "Not Found"} is what any FastAPI app says about a path it lacks.
            not_slipway(self.url, f"{what} answered HTTP {status} {_snippet(resp.text)}")
        if isinstance(detail, list):
            # A request body the server refused field by field (FastAPI's validation errors).
            for item in detail:
                where = ".".join(str(p) for p in item.get("loc", ())[1:]) if isinstance(item, dict) else ""
                msg = item.get("msg", item) if isinstance(item, dict) else item
                text = str(msg).removeprefix("Value error, ")
                err_console.print(
                    f"[red]error ({status}):[/] {escape(where + ': ' if where else '')}{escape(text)}"
                )
        else:
            err_console.print(f"[red]error ({status}):[/] {escape(str(detail))}", highlight=False)
        raise typer.Exit(1)

    def get(self, path: str, *, expect: Expect = "json", **kwargs: Any) -> Any:
        return self.request("GET", path, expect=expect, **kwargs)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json)
