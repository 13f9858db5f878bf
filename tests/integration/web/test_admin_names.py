"""The admin API and the CLI hold names and labels to the config file's rule, so what they accept exports and
loads again, and a version never carries a line break into a response header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import routing_yaml
from tests.processes import ServeProcess, run_cli, slipway_serve

from slipway.core.config import parse_config

WAIT_S = 60.0
CRLF = "v1\r\nSet-Cookie: pwned=1"


@pytest.fixture
def served(tmp_path: Path, blue_url: str, green_url: str) -> Iterator[ServeProcess]:
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, green_url))
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as proc:
        yield proc


def history(url: str) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = httpx.get(f"{url}/admin/history", timeout=WAIT_S).json()["changes"]
    return changes


def deploy(url: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{url}/admin/deploy", json={"no_smoke": True, **body}, timeout=WAIT_S)


def refusal(r: httpx.Response) -> str:
    assert r.status_code == 422, f"{r.status_code} {r.text}"
    return " ".join(str(item.get("msg", "")) + " " + str(item.get("loc", "")) for item in r.json()["detail"])


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("version", CRLF, "printable ASCII"),
        ("model", "cs\r\n", "printable ASCII"),
        ("upstream_model", "cs\n", "printable ASCII"),
        ("adapter", "v2.1\x00", "printable ASCII"),
        ("slot", "../../x", "letters, digits"),
        ("endpoint", "127.0.0.1:1\r\nHost: evil", "printable ASCII"),
        ("api_key_env", "KEY\n", "letters, digits"),
    ],
)
def test_a_deploy_with_a_bad_name_or_label_is_refused_and_changes_nothing(
    served: ServeProcess, green_url: str, field: str, value: str, says: str
) -> None:
    before = history(served.url)
    body = {"version": "v2.3", "slot": "green", "endpoint": green_url, "model": "cs-v2.3", field: value}
    said = refusal(deploy(served.url, **body))
    assert says in said and field in said, said
    assert history(served.url) == before
    assert httpx.get(f"{served.url}/admin/deployments", timeout=WAIT_S).json()["deployments"] == []


def test_the_crlf_version_never_reaches_a_response_header(served: ServeProcess, green_url: str) -> None:
    refusal(deploy(served.url, version=CRLF, slot="green", endpoint=green_url, model="cs-v2.2"))
    answer = httpx.post(
        f"{served.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "refund"}]},
        timeout=WAIT_S,
    )
    assert answer.status_code == 200 and answer.content
    assert "set-cookie" not in answer.headers
    assert answer.headers["x-slipway-version"] == "customer-support-v2.1"


def test_slot_names_from_the_api_are_ones_the_config_file_accepts(
    served: ServeProcess, green_url: str
) -> None:
    said = refusal(httpx.post(f"{served.url}/admin/switch", json={"to": "../../x"}, timeout=WAIT_S))
    assert "slot name" in said
    said = refusal(httpx.post(f"{served.url}/admin/rollback", json={"to": "a/b"}, timeout=WAIT_S))
    assert "slot name" in said

    staged = deploy(
        served.url, version="v2.3", slot="canary-1", endpoint=green_url, model="cs-v2.3", switch=False
    )
    assert staged.status_code == 200, staged.text
    exported = httpx.get(f"{served.url}/admin/config", timeout=WAIT_S).text
    table = parse_config(exported, "export.yaml").to_route_table(1)
    assert table.slots["canary-1"].version == "v2.3"


def test_an_actor_header_that_is_not_one_printable_line_is_refused(served: ServeProcess) -> None:
    r = httpx.post(
        f"{served.url}/admin/switch",
        json={"to": "green"},
        headers={b"x-slipway-actor": b"caf\xe9"},
        timeout=WAIT_S,
    )
    assert r.status_code == 400 and "X-Slipway-Actor" in r.text, r.text
    assert history(served.url)[0]["to_active"] == "blue"


def test_the_cli_applies_the_same_rule_before_sending(served: ServeProcess) -> None:
    before = history(served.url)
    out = run_cli(served.url, ["deploy", CRLF, "--slot", "green", "--no-smoke"])
    assert out.returncode == 2
    said = " ".join(out.stderr.split())
    assert "version 'v1\\r\\nSet-Cookie: pwned=1' is not allowed" in said, said
    out = run_cli(served.url, ["switch", "../../x"])
    assert out.returncode == 2 and "slot name '../../x' is not allowed" in " ".join(out.stderr.split())
    assert history(served.url) == before
