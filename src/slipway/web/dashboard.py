"""`GET /dashboard`: the page an operator keeps open during a rollout.

One self-contained HTML file: no build step, no CDN, nothing fetched but
slipway's own admin API, which it polls every second with the admin token
the operator types once (kept in the tab's sessionStorage). Serving the page
needs no token; everything it shows does. It draws the slots and the split,
the canary's phase and metric table, each metric's production and candidate
values over the canary's checks, the route history, and a one-click
rollback (with a confirmation) that is recorded as done by "dashboard".
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

#: Inline script and style are the page itself; it talks to nothing but this origin.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # For browsers older than frame-ancestors: a framed page could be clicked through (clickjacking).
    "X-Frame-Options": "DENY",
}


def add_dashboard(app: FastAPI) -> None:
    page = resources.files("slipway.web").joinpath("static", "dashboard.html").read_text(encoding="utf-8")

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers=_HEADERS)
