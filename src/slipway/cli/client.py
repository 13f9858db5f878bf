"""The CLI's way to a running server: SLIPWAY_URL and SLIPWAY_ADMIN_TOKEN (OP1).

Errors come back as slipway's JSON error bodies and are printed as the
server wrote them (what was wrong, what to do), with a non-zero exit.
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

import httpx
import typer
from rich.console import Console

DEFAULT_URL = "http://127.0.0.1:8080"
err_console = Console(stderr=True)


def server_url() -> str:
    return os.environ.get("SLIPWAY_URL", DEFAULT_URL).rstrip("/")


def actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} (cli)"


class AdminClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 600.0) -> None:
        self.url = (url or server_url()).rstrip("/")
        token = token if token is not None else os.environ.get("SLIPWAY_ADMIN_TOKEN")
        headers = {"x-slipway-actor": actor()}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self._client.request(method, path, **kwargs)
        except httpx.ConnectError:
            err_console.print(
                f"[red]error:[/] no slipway server answers at {self.url}. Start one with "
                "`slipway serve --config slipway.yaml`, or point SLIPWAY_URL at it."
            )
            raise typer.Exit(2) from None
        except httpx.HTTPError as exc:
            err_console.print(f"[red]error:[/] talking to {self.url}: {exc.__class__.__name__}: {exc}")
            raise typer.Exit(2) from None
        if resp.status_code >= 400:
            self._fail(resp)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    def _fail(self, resp: httpx.Response) -> None:
        try:
            body = resp.json()
        except ValueError:
            body = {"detail": resp.text}
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            report = error.get("report")
            if isinstance(report, dict) and report.get("text"):
                # The details first, so the closing error and hint are what the operator reads last.
                err_console.print(report["text"], markup=False, highlight=False)
            err_console.print(f"[red]error:[/] {error.get('message')}")
            if error.get("hint"):
                err_console.print(f"  hint: {error['hint']}")
        else:
            detail = body.get("detail") if isinstance(body, dict) else body
            err_console.print(f"[red]error ({resp.status_code}):[/] {detail}")
        raise typer.Exit(1)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json)
