"""A web page cannot move traffic: admin requests need this server's Host, its own origin and JSON.

Why these rules: a browser on the operator's machine runs pages from anywhere.
Any of them can POST to 127.0.0.1 (a cross-site request), or point its own DNS
name at 127.0.0.1 once it has loaded (DNS rebinding; its requests are then
"same-origin" to the browser). The issue's reproduction was

    curl -X POST localhost:PORT/admin/rollback -H 'Origin: http://evil.example' \
         -H 'Host: evil.example:PORT' -H 'Content-Type: text/plain'

answered 200 with the route moved. Each rule is shown here on its own, against
a real `slipway serve` subprocess, without and with an admin token: a refused
request must leave the route and the history as they were, say which rule
refused it and what to do instead, and the CLI and same-origin requests (the
dashboard's) must keep working.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.processes import ServeProcess, run_cli, slipway_serve

TOKEN = "tok-1c6e0b9a47d2f385e6a1"
JSON = {"content-type": "application/json"}


@dataclass
class Served:
    proc: ServeProcess
    token: str | None

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def env(self) -> dict[str, str]:
        return {"SLIPWAY_ADMIN_TOKEN": self.token} if self.token else {}

    def route(self) -> tuple[str, int, int]:
        """(active slot, route version, changes in the history), read the way an operator would."""
        status = httpx.get(f"{self.url}/admin/status", headers=self.auth(), timeout=10)
        assert status.status_code == 200, status.text
        history = httpx.get(
            f"{self.url}/admin/history", params={"limit": 10_000}, headers=self.auth(), timeout=10
        )
        assert history.status_code == 200, history.text
        route = status.json()["route"]
        return route["active"], route["version"], len(history.json()["changes"])

    def switch_away(self) -> str:
        """Move traffic to the other slot the legitimate way, so a rollback has somewhere to go back to."""
        active = self.route()[0]
        other = "green" if active == "blue" else "blue"
        resp = httpx.post(
            f"{self.url}/admin/switch",
            json={"to": other, "reason": "set up a rollback target"},
            headers=self.auth(),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return other


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[str, str]]:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
    ):
        yield blue, green


@contextlib.contextmanager
def served(
    workdir: Path, backends: tuple[str, str], token: str | None, config_extra: str = "", *args: str
) -> Iterator[Served]:
    (workdir / "slipway.yaml").write_text(routing_yaml(*backends, extra=config_extra))
    env = {"SLIPWAY_ADMIN_TOKEN": token} if token else None
    with slipway_serve(workdir, ["--config", "slipway.yaml", "--no-watch", *args], env=env) as proc:
        yield Served(proc, token)


@pytest.fixture(scope="module", params=[None, TOKEN], ids=["no-token", "token"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backends: tuple[str, str]
) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("browser-rules"), backends, request.param) as s:
        yield s


#: A browser's way to send a change to another server, each kept alone to show its rule.
#: (name, request headers with {port} for the server's port, status, what the answer must say).
EVIL: list[tuple[str, dict[str, str], int, list[str]]] = [
    (
        "the issue's request",
        {"origin": "http://evil.example", "host": "evil.example:{port}", "content-type": "text/plain"},
        400,
        ["Host header 'evil.example:{port}'", "gateway.allowed_hosts", "--allowed-host"],
    ),
    (
        "dns rebinding",
        {"origin": "http://evil.example:{port}", "host": "evil.example:{port}", **JSON},
        400,
        ["Host header 'evil.example:{port}'", "DNS", "gateway.allowed_hosts"],
    ),
    (
        "another site",
        {"origin": "http://evil.example", **JSON},
        403,
        ["from another origin (http://evil.example)", "CLI"],
    ),
    (
        "another port on this machine",
        {"origin": "http://127.0.0.1:1", **JSON},
        403,
        ["from another origin (http://127.0.0.1:1)", "CLI"],
    ),
    ("an opaque origin", {"origin": "null", **JSON}, 403, ["from another origin (null)"]),
    ("a cross-site fetch", {"sec-fetch-site": "cross-site", **JSON}, 403, ["Sec-Fetch-Site: cross-site"]),
    ("a same-site fetch", {"sec-fetch-site": "same-site", **JSON}, 403, ["Sec-Fetch-Site: same-site"]),
    (
        "a text/plain body",
        {"content-type": "text/plain"},
        415,
        ["Content-Type: application/json", "text/plain"],
    ),
    (
        "a form",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        ["Content-Type: application/json", "application/x-www-form-urlencoded"],
    ),
    ("multipart", {"content-type": "multipart/form-data; boundary=x"}, 415, ["application/json"]),
    ("no content type", {}, 415, ["Content-Type: application/json", "no Content-Type"]),
]


@pytest.mark.parametrize(("case", "headers", "status", "says"), EVIL, ids=[c[0] for c in EVIL])
def test_a_change_a_browser_page_could_send_is_refused_and_the_route_stays(
    server: Served, case: str, headers: dict[str, str], status: int, says: list[str]
) -> None:
    # Given traffic was moved once, so a rollback would move it back
    server.switch_away()
    before = server.route()

    # When a rollback (which needs no body) arrives as a web page could send it, token or not
    sent = {k: v.format(port=server.port) for k, v in headers.items()} | server.auth()
    resp = httpx.post(f"{server.url}/admin/rollback", headers=sent, timeout=10)

    # Then it is refused with the rule and the fix in the answer
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    text = f"{error['message']} {error['hint']}"
    for phrase in says:
        assert phrase.format(port=server.port) in text, text
    # And nothing moved: same active slot, same route version, nothing new in the history
    assert server.route() == before


def test_the_cli_still_rolls_back_switches_and_reloads(server: Served) -> None:
    # Given traffic was moved once
    moved_to = server.switch_away()
    active, version, changes = server.route()
    assert active == moved_to

    # When the operator rolls back with the CLI
    out = run_cli(server.url, ["rollback", "--reason", "cli still works"], env=server.env())

    # Then traffic is back and the change is recorded
    assert out.returncode == 0, out.stderr
    after = server.route()
    assert after[0] != moved_to and after[1] > version and after[2] == changes + 1
    # And the CLI's body-less write (reload) passes the JSON rule too
    reload = run_cli(server.url, ["reload"], env=server.env())
    assert reload.returncode == 0, reload.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_same_origin_request_like_the_dashboards_moves_traffic(server: Served, host: str) -> None:
    server.switch_away()
    active, version, changes = server.route()
    own = f"{host}:{server.port}"
    headers = {"host": own, "origin": f"http://{own}", "sec-fetch-site": "same-origin"} | server.auth()
    resp = httpx.post(
        f"{server.url}/admin/rollback", json={"reason": "from the page"}, headers=headers, timeout=10
    )
    assert resp.status_code == 200, resp.text
    after = server.route()
    assert after[0] != active and after[1] > version and after[2] == changes + 1


@pytest.mark.parametrize(
    "path", ["/admin/status", "/admin/history", "/admin/config", "/metrics", "/dashboard", "/openapi.json"]
)
def test_reads_and_pages_answer_only_under_this_servers_names(server: Served, path: str) -> None:
    """A rebound page reads with the browser's blessing unless the Host header gives it away."""
    rebound = httpx.get(
        f"{server.url}{path}", headers={"host": f"evil.example:{server.port}"} | server.auth(), timeout=10
    )
    assert rebound.status_code == 400, rebound.text
    assert "evil.example" in rebound.json()["error"]["message"]
    own = httpx.get(f"{server.url}{path}", headers=server.auth(), timeout=10)
    assert own.status_code == 200, own.text


def test_health_probes_answer_whatever_host_they_name(server: Served) -> None:
    resp = httpx.get(f"{server.url}/healthz", headers={"host": "10.0.0.7:9999"}, timeout=10)
    assert resp.status_code == 200, resp.text
    resp = httpx.get(f"{server.url}/healthz", headers={"host": "lb-probe.internal"}, timeout=10)
    assert resp.status_code == 200, resp.text


def test_the_dashboard_cannot_be_framed_and_admin_answers_are_not_for_other_origins(server: Served) -> None:
    page = httpx.get(f"{server.url}/dashboard", timeout=10)
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    status = httpx.get(f"{server.url}/admin/status", headers=server.auth(), timeout=10)
    for resp in (page, status):
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["cross-origin-resource-policy"] == "same-origin"


def test_the_data_plane_takes_requests_from_any_origin(server: Served) -> None:
    """Servers and SDKs call /v1 and /api; browsers' rules are not theirs to follow."""
    resp = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "refund"}]},
        headers={"origin": "http://evil.example", "sec-fetch-site": "cross-site"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


def test_names_given_in_the_config_and_on_the_command_line_are_this_servers(
    tmp_path: Path, backends: tuple[str, str]
) -> None:
    """Behind a load balancer clients use its DNS name; the operator lists it, and it works."""
    extra = "gateway:\n  allowed_hosts: [slipway.config.example]\n"
    with served(tmp_path, backends, TOKEN, extra, "--allowed-host", "Slipway.Flag.Example") as s:
        for name in ("slipway.config.example", "slipway.flag.example", "SLIPWAY.CONFIG.EXAMPLE."):
            own = f"{name}:{s.port}"
            got = httpx.get(f"{s.url}/admin/status", headers={"host": own} | s.auth(), timeout=10)
            assert got.status_code == 200, (name, got.text)
        s.switch_away()
        before = s.route()
        own = f"slipway.flag.example:{s.port}"
        headers: dict[str, Any] = {"host": own, "origin": f"http://{own}", **JSON} | s.auth()
        moved = httpx.post(f"{s.url}/admin/rollback", headers=headers, timeout=10)
        assert moved.status_code == 200, moved.text
        assert s.route()[1] > before[1]
        other = httpx.get(f"{s.url}/admin/status", headers={"host": "other.example"} | s.auth(), timeout=10)
        assert other.status_code == 400
        message = other.json()["error"]["message"]
        assert "slipway.config.example" in message and "slipway.flag.example" in message, message
