"""An operator's session, end to end: `slipway serve` on the seed's YAML, then the CLI.

Everything runs as a user would run it: the installed `slipway` entry point as
subprocesses, the `openai` client for traffic, sim backends on the seed's own
ports (11434/11435) so the seed's `model_routing.yaml` is used byte for byte.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from tests.harness import sim_backend, sim_profile
from tests.processes import ServeProcess, run_cli, slipway_serve

SEED = """\
# Config: model_routing.yaml
active_slot: "green"
blue:
  model: "customer-support-v2.1"
  endpoint: "localhost:11434"
green:
  model: "customer-support-v2.2"
  endpoint: "localhost:11435"
"""

SMOKE = "\n".join(
    json.dumps({"id": f"{label}-{i}", "prompt": f"{word} question {i}", "expect": {"label": label}})
    for i in range(5)
    for label, word in (("billing", "refund"), ("shipping", "parcel"))
)

DEPLOY = ["deploy", "v2.3", "--strategy", "bluegreen", "--slot", "blue", "--model", "cs-v2.3"]

BAD_BILLING = """\
categories:
  billing: {keywords: [refund, invoice], accuracy: 0.0}
"""


@pytest.fixture
def seed_backends() -> Iterator[None]:
    try:
        with (
            sim_backend(sim_profile("cs-v2.1", "v2.1"), port=11434),
            sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1, port=11435),
        ):
            yield
    except OSError as exc:
        pytest.fail(f"the seed's ports 11434/11435 must be free on 127.0.0.1 for this test: {exc}")


@pytest.fixture
def served(tmp_path: Path, seed_backends: None) -> Iterator[ServeProcess]:
    (tmp_path / "model_routing.yaml").write_text(SEED)
    with slipway_serve(tmp_path, ["--config", "model_routing.yaml"]) as proc:
        yield proc


def ask(url: str, text: str = "refund please") -> tuple[str, str]:
    """One chat request through the gateway: (slot header, model that answered)."""
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="customer-support", messages=[{"role": "user", "content": text}]
        )
        return raw.headers["x-slipway-slot"], raw.parse().model


def status(url: str) -> dict[str, object]:
    out = run_cli(url, ["status", "--json"])
    assert out.returncode == 0, out.stderr
    data: dict[str, object] = json.loads(out.stdout)
    return data


def test_seed_yaml_serves_as_written_and_the_cli_rolls_back(served: ServeProcess, tmp_path: Path) -> None:
    # The seed says green is active; green is localhost:11435, which answers as cs-v2.2.
    assert ask(served.url) == ("green", "cs-v2.2")
    st = status(served.url)
    assert st["route"]["active"] == "green"  # type: ignore[index]
    assert (tmp_path / ".slipway").is_dir(), "the default store lives under .slipway/ in the working dir"

    out = run_cli(served.url, ["rollback", "--reason", "billing accuracy fell"])
    assert out.returncode == 0, out.stderr
    assert "blue" in out.stdout
    assert ask(served.url) == ("blue", "cs-v2.1")

    table = run_cli(served.url, ["status"])
    assert table.returncode == 0 and "blue" in table.stdout and "active" in table.stdout

    history = run_cli(served.url, ["history", "--json"])
    assert history.returncode == 0, history.stderr
    changes = json.loads(history.stdout)
    last = changes[0]
    assert (last["from_active"], last["to_active"], last["kind"]) == ("green", "blue", "rollback")
    assert last["reason"] == "billing accuracy fell" and "(cli)" in last["actor"]
    assert any(c["actor"] == "config-file" for c in changes)


def test_bluegreen_deploy_switches_only_after_a_passing_smoke_test(
    served: ServeProcess, tmp_path: Path
) -> None:
    smoke = tmp_path / "smoke.jsonl"
    smoke.write_text(SMOKE + "\n")
    # Green is active, so blue is the standby; a broken v2.3 must not get traffic.
    with sim_backend(sim_profile("cs-v2.3-bad", "v2.3", extra=BAD_BILLING)) as bad_url:
        refused = run_cli(
            served.url,
            [*DEPLOY, "--endpoint", bad_url, "--smoke", str(smoke)],
        )
    assert refused.returncode == 1
    assert "billing-0" in refused.stderr and "billing" in refused.stderr
    assert ask(served.url) == ("green", "cs-v2.2"), "a failed smoke test must leave routing alone"
    slots = {s["name"]: s for s in status(served.url)["slots"]}  # type: ignore[attr-defined]
    assert slots["blue"]["model"] == "customer-support-v2.1", "the standby must still hold what it held"

    with sim_backend(sim_profile("cs-v2.3", "v2.3")) as good_url:
        done = run_cli(
            served.url,
            [*DEPLOY, "--endpoint", good_url, "--smoke", str(smoke)],
        )
        assert done.returncode == 0, done.stderr
        assert "deployed v2.3" in done.stdout
        assert ask(served.url) == ("blue", "cs-v2.3")
        # The old slot stays loaded: rolling back is instant and green still answers.
        back = run_cli(served.url, ["rollback"])
        assert back.returncode == 0, back.stderr
        assert ask(served.url) == ("green", "cs-v2.2")

    deployments = httpx.get(f"{served.url}/admin/deployments").json()["deployments"]
    statuses = [d["status"] for d in deployments]
    assert "failed" in statuses or "smoke_failed" in statuses, statuses


def test_cli_explains_a_missing_server(tmp_path: Path) -> None:
    out = run_cli("http://127.0.0.1:9", ["status"])
    assert out.returncode == 2
    assert "no slipway server answers at http://127.0.0.1:9" in out.stderr
    assert "SLIPWAY_URL" in out.stderr


def test_serve_refuses_an_invalid_config_with_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(SEED.replace('active_slot: "green"', 'active_slot: "purple"'))
    out = run_cli(None, ["serve", "--config", "bad.yaml", "--port", "0"], cwd=tmp_path)
    assert out.returncode == 2
    assert "bad.yaml:2" in out.stderr and "active_slot" in out.stderr


def test_serve_says_how_to_start_when_there_are_no_routes(tmp_path: Path) -> None:
    out = run_cli(None, ["serve", "--port", "0"], cwd=tmp_path)
    assert out.returncode == 2
    assert "no routes" in out.stderr and "--config" in out.stderr
    assert textwrap.dedent(out.stderr).count("Traceback") == 0
