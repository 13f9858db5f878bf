"""The admin API is behind a bearer token; the data plane, health and docs are not (OP1).

Without a token slipway serves the admin API only on a loopback address: asked
to bind anything else, `slipway serve` refuses to start and says what to do.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.faults import env_without, free_port, profile_yaml, single_slot_yaml
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend

from slipway.app import ServeSettings, create_app
from slipway.core.errors import ConfigError

TOKEN = "tok-7f3a9c1e5b2d4a6f8e0c"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with (
        sim_backend(profile_yaml()) as url,
        live_gateway(tmp_path_factory.mktemp("auth"), routing_yaml(url, url), token=TOKEN) as gw,
    ):
        yield gw


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url) as client:
        yield client


@pytest.fixture
def request_id(http: httpx.Client) -> str:
    resp = http.post("/v1/completions", json={"model": "m", "prompt": "refund"})
    assert resp.status_code == 200, resp.text
    return resp.headers["x-slipway-request-id"]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


#: Every admin endpoint, with a request that would succeed (or be judged on its body) given the token.
ADMIN: list[tuple[str, str, Any]] = [
    ("GET", "/admin/status", None),
    ("GET", "/admin/history", None),
    ("GET", "/admin/config", None),
    ("GET", "/admin/deployments", None),
    ("GET", "/admin/requests/{rid}", None),
    ("POST", "/admin/rollback", {"to": "blue"}),
    ("POST", "/admin/switch", {"to": "blue"}),
    ("POST", "/admin/reload", None),
    ("POST", "/admin/deploy", {"version": "v9", "no_smoke": True}),
]
IDS = [f"{method} {path}" for method, path, _ in ADMIN]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN, ids=IDS)
@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "missing admin token: send 'Authorization: Bearer <SLIPWAY_ADMIN_TOKEN>'"),
        (bearer("not-the-token"), "wrong admin token: use the value of SLIPWAY_ADMIN_TOKEN"),
        (bearer(TOKEN[:-1]), "wrong admin token"),
        ({"authorization": TOKEN}, "Bearer <SLIPWAY_ADMIN_TOKEN>'; the Authorization header was there"),
        ({"authorization": f"Basic {TOKEN}"}, "header was there but not in that form"),
        ({"authorization": "Bearer"}, "missing admin token"),
    ],
    ids=["none", "wrong", "prefix", "no-scheme", "basic", "empty"],
)
def test_admin_refuses_without_the_right_token_and_says_how(
    http: httpx.Client,
    request_id: str,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    says: str,
) -> None:
    resp = http.request(method, path.format(rid=request_id), json=body, headers=headers)
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"] == "Bearer"
    assert says in resp.json()["detail"]


def test_a_refused_action_changes_nothing(http: httpx.Client) -> None:
    before = http.get("/admin/status", headers=bearer(TOKEN)).json()["route"]["version"]
    assert http.post("/admin/switch", json={"to": "nowhere"}).status_code == 401
    assert http.post("/admin/rollback", json={}).status_code == 401
    assert http.get("/admin/status", headers=bearer(TOKEN)).json()["route"]["version"] == before


@pytest.mark.parametrize(("method", "path", "body"), [a for a in ADMIN if a[0] == "GET"], ids=IDS[:5])
def test_admin_answers_with_the_token(
    http: httpx.Client, request_id: str, method: str, path: str, body: Any
) -> None:
    resp = http.request(method, path.format(rid=request_id), headers=bearer(TOKEN))
    assert resp.status_code == 200, resp.text


def test_admin_actions_work_with_the_token(http: httpx.Client) -> None:
    resp = http.post("/admin/switch", json={"to": "green", "reason": "auth test"}, headers=bearer(TOKEN))
    assert resp.status_code == 200, resp.text
    assert resp.json()["to"] == "green"
    resp = http.post("/admin/rollback", json={"reason": "auth test"}, headers=bearer(TOKEN))
    assert resp.status_code == 200, resp.text
    assert resp.json()["to"] == "blue"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "refund"}]}),
        ("POST", "/v1/completions", {"model": "m", "prompt": "refund"}),
        (
            "POST",
            "/api/chat",
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False},
        ),
        ("POST", "/api/generate", {"model": "m", "prompt": "refund", "stream": False}),
        ("GET", "/v1/models", None),
        ("GET", "/api/tags", None),
        ("GET", "/api/version", None),
        ("GET", "/healthz", None),
        ("GET", "/openapi.json", None),
        ("GET", "/docs", None),
    ],
)
def test_gateway_health_and_docs_need_no_token(http: httpx.Client, method: str, path: str, body: Any) -> None:
    resp = http.request(method, path, json=body)
    assert resp.status_code == 200, resp.text


def test_feedback_needs_no_admin_token(http: httpx.Client, request_id: str) -> None:
    resp = http.post("/v1/feedback", json={"request_id": request_id, "satisfied": True})
    assert resp.status_code == 200, resp.text


def test_the_openapi_document_declares_the_bearer_token(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    assert doc["info"]["title"] == "slipway admin API"
    schemes = doc["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    (name,) = schemes
    for method, path, _ in ADMIN:
        operation = doc["paths"][path.replace("{rid}", "{request_id}")][method.lower()]
        assert operation["security"] == [{name: []}], path
    assert "security" not in doc["paths"]["/healthz"]["get"]
    assert "Swagger UI" in http.get("/docs").text


# --- refusing to start ----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "gateway.internal.example", "10.1.2.3"])
def test_create_app_refuses_a_non_loopback_host_without_a_token(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app(ServeSettings(host=host, workdir=tmp_path))
    assert f"refusing to serve the admin API on {host} without a token" in str(caught.value)
    assert caught.value.hint == "set SLIPWAY_ADMIN_TOKEN to a long random secret, or bind to 127.0.0.1"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_may_run_without_a_token(tmp_path: Path, host: str) -> None:
    app, runtime = create_app(ServeSettings(host=host, workdir=tmp_path))
    assert callable(app)
    assert (runtime.settings.host, runtime.settings.admin_token) == (host, None)


def test_a_token_allows_any_host(tmp_path: Path) -> None:
    app, runtime = create_app(ServeSettings(host="0.0.0.0", admin_token=TOKEN, workdir=tmp_path))
    assert callable(app)
    assert (runtime.settings.host, runtime.settings.admin_token) == ("0.0.0.0", TOKEN)


@pytest.mark.parametrize("token_env", [None, ""], ids=["unset", "empty"])
def test_slipway_serve_on_all_interfaces_without_a_token_exits_saying_why(
    tmp_path: Path, token_env: str | None
) -> None:
    config = tmp_path / "slipway.yaml"
    config.write_text(single_slot_yaml("http://127.0.0.1:9"))
    env = env_without("SLIPWAY_ADMIN_TOKEN")
    if token_env is not None:
        env["SLIPWAY_ADMIN_TOKEN"] = token_env
    command = [sys.executable, "-m", "slipway.cli.main", "serve", "--config", str(config)]
    command += ["--host", "0.0.0.0", "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, cwd=tmp_path, env=env, timeout=60, check=False)
    stderr = " ".join(done.stderr.decode().split())
    assert done.returncode == 2, stderr
    assert "error: refusing to serve the admin API on 0.0.0.0 without a token" in stderr
    assert "set SLIPWAY_ADMIN_TOKEN to a long random secret, or bind to 127.0.0.1" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / ".slipway").exists(), "nothing is created before the refusal"


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
@pytest.mark.parametrize(
    ("token_env", "says"),
    [
        (" ", "SLIPWAY_ADMIN_TOKEN is set but blank"),
        ("\t \n", "SLIPWAY_ADMIN_TOKEN is set but blank"),
        (f" {TOKEN}\n", "SLIPWAY_ADMIN_TOKEN starts or ends with whitespace"),
    ],
    ids=["space", "whitespace", "padded"],
)
def test_slipway_serve_refuses_a_token_no_request_could_match(
    tmp_path: Path, host: str, token_env: str, says: str
) -> None:
    """A blank token cannot be sent (HTTP trims header values), so the API would be shut for everyone."""
    config = tmp_path / "slipway.yaml"
    config.write_text(single_slot_yaml("http://127.0.0.1:9"))
    env = env_without("SLIPWAY_ADMIN_TOKEN") | {"SLIPWAY_ADMIN_TOKEN": token_env}
    command = [sys.executable, "-m", "slipway.cli.main", "serve", "--config", str(config)]
    command += ["--host", host, "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, cwd=tmp_path, env=env, timeout=60, check=False)
    stderr = " ".join(done.stderr.decode().split())
    assert done.returncode == 2, stderr
    assert f"error: {says}" in stderr
    assert "long random secret" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / ".slipway").exists(), "nothing is created before the refusal"


@pytest.mark.parametrize("token", [" ", f"{TOKEN} "])
def test_create_app_refuses_a_token_no_request_could_match(tmp_path: Path, token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app(ServeSettings(admin_token=token, workdir=tmp_path))
    assert "SLIPWAY_ADMIN_TOKEN" in str(caught.value)
