"""With SLIPWAY_FEEDBACK_TOKEN set, only its holders (and the admin) can label answers.

Labels are the ground truth canary, bake and shadow checks judge by, so a
gateway whose data plane is reachable by more than the labelling system can
keep them to that system. Real `slipway serve` processes, a real sim model
server on loopback, the `openai` client for requests and httpx for labels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from tests.faults import env_without, free_port, single_slot_yaml
from tests.harness import sim_backend, sim_profile
from tests.processes import ServeProcess, run_cli, slipway_serve

ADMIN = "adm-5d1c9e7a3b"
FEEDBACK = "fb-9a2e4c6b8d0f"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir = tmp_path_factory.mktemp("feedback-token")
    with sim_backend(sim_profile("cs-v2.1", "v2.1")) as url:
        (workdir / "slipway.yaml").write_text(single_slot_yaml(url))
        env = {"SLIPWAY_ADMIN_TOKEN": ADMIN, "SLIPWAY_FEEDBACK_TOKEN": FEEDBACK}
        with slipway_serve(workdir, ["--config", "slipway.yaml"], env=env) as serve:
            yield serve


def answered(url: str) -> str:
    """One chat through the gateway, as an application sends it (no token): its request id."""
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "where is my parcel"}]
    )
    return raw.headers["x-slipway-request-id"]


def label(url: str, request_id: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/feedback",
        json={"request_id": request_id, "label": "shipping"},
        headers=headers,
        timeout=10,
    )


def stored_label(url: str, request_id: str) -> str | None:
    got = httpx.get(
        f"{url}/admin/requests/{request_id}", headers={"authorization": f"Bearer {ADMIN}"}, timeout=10
    )
    assert got.status_code == 200, got.text
    feedback = got.json()["feedback"]
    return None if feedback is None else feedback["label"]


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "missing feedback token: send 'Authorization: Bearer <SLIPWAY_FEEDBACK_TOKEN>'"),
        ({"authorization": FEEDBACK}, "the Authorization header was there but not in that form"),
        ({"authorization": "Bearer not-it"}, "wrong feedback token: use the value of SLIPWAY_FEEDBACK_TOKEN"),
    ],
    ids=["none", "no-scheme", "wrong"],
)
def test_a_label_without_the_token_is_refused_and_not_stored(
    server: ServeProcess, headers: dict[str, str], says: str
) -> None:
    request_id = answered(server.url)  # requests themselves need no token
    refused = label(server.url, request_id, headers)
    assert refused.status_code == 401, refused.text
    assert refused.headers["www-authenticate"] == "Bearer"
    error = refused.json()["error"]
    assert says in error["message"] and error["code"] == "invalid_feedback_token"
    assert FEEDBACK not in refused.text  # what was sent is never echoed
    assert stored_label(server.url, request_id) is None


@pytest.mark.parametrize("token", [FEEDBACK, ADMIN], ids=["feedback-token", "admin-token"])
def test_the_feedback_token_or_the_admin_token_labels(server: ServeProcess, token: str) -> None:
    request_id = answered(server.url)
    accepted = label(server.url, request_id, {"authorization": f"Bearer {token}"})
    assert accepted.status_code == 200, accepted.text
    assert stored_label(server.url, request_id) == "shipping"


def test_shadow_replay_sends_its_labels_with_the_token_from_the_environment(
    server: ServeProcess, tmp_path: Path
) -> None:
    cases = tmp_path / "cases.jsonl"
    lines = [
        {"id": f"s{i}", "prompt": f"where is my parcel #{i}", "expect": {"label": "shipping"}}
        for i in range(5)
    ]
    cases.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with_token = run_cli(
        server.url, ["shadow", "replay", str(cases)], env={"SLIPWAY_FEEDBACK_TOKEN": FEEDBACK}
    )
    assert with_token.returncode == 0, with_token.stdout + with_token.stderr
    assert "5 labelled" in with_token.stdout, with_token.stdout
    without = run_cli(server.url, ["shadow", "replay", str(cases)])
    assert "0 labelled" in without.stdout, without.stdout


@pytest.mark.parametrize(
    ("value", "says", "fix"),
    [
        (" ", "SLIPWAY_FEEDBACK_TOKEN is set but blank", "or unset it to take feedback from any client"),
        (
            f"{FEEDBACK}\n",
            "SLIPWAY_FEEDBACK_TOKEN starts or ends with whitespace",
            "remove the spaces or the newline",
        ),
    ],
    ids=["blank", "newline"],
)
def test_serve_refuses_a_feedback_token_no_client_could_send(
    tmp_path: Path, value: str, says: str, fix: str
) -> None:
    (tmp_path / "slipway.yaml").write_text(single_slot_yaml("http://127.0.0.1:9"))
    env = env_without("SLIPWAY_ADMIN_TOKEN", "SLIPWAY_FEEDBACK_TOKEN") | {"SLIPWAY_FEEDBACK_TOKEN": value}
    command = [sys.executable, "-m", "slipway.cli.main", "serve", "--config", "slipway.yaml"]
    command += ["--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, cwd=tmp_path, env=env, timeout=60, check=False)
    stderr = " ".join(done.stderr.decode().split())
    assert done.returncode == 2, stderr
    assert f"error: {says}" in stderr and fix in stderr, stderr
    assert "Traceback" not in stderr
