"""What a newcomer meets first, through the installed `slipway` as a shell runs it: help that reads
plainly, `--url`, tables that survive a pipe, the canary verbs under `slipway canary` (the old
spellings still work), and the README's drill with the shipped examples."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.processes import ServeProcess, free_port, run_cli, slipway_bin, slipway_serve, wait_healthy

REPO = Path(__file__).parents[3]
EXAMPLES = REPO / "examples" / "sim"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServeProcess]:
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green))
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as server:
            yield server


def _help(*args: str) -> str:
    out = run_cli(None, [*args, "--help"])
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_help_shows_arguments_in_capitals_flags_bare_and_an_example() -> None:
    switch = _help("switch")
    assert "slipway switch [OPTIONS] SLOT" in switch and "{slot}" not in switch
    status = _help("status")
    assert "<bool>" not in status and "<bool>" not in _help("deploy")
    for command in (
        ["serve"],
        ["status"],
        ["history"],
        ["rollback"],
        ["switch"],
        ["deploy"],
        ["demo"],
        ["canary", "status"],
        ["canary", "promote"],
        ["shadow", "report"],
        ["sim", "serve"],
        ["engine", "install"],
    ):
        assert "Example: slipway " in _help(*command), command


def test_every_command_that_reaches_a_server_takes_url_and_names_slipway_url() -> None:
    for command in (
        ["status"],
        ["history"],
        ["rollback"],
        ["switch"],
        ["reload"],
        ["deploy"],
        ["config", "export"],
        ["canary", "status"],
        ["canary", "watch"],
        ["canary", "promote"],
        ["canary", "abort"],
        ["canary", "pause"],
        ["canary", "resume"],
        ["shadow", "status"],
        ["shadow", "report"],
        ["shadow", "stop"],
        ["adapters", "rollback"],
    ):
        text = _help(*command)
        assert "--url" in text and "SLIPWAY_URL" in text, command


def test_demo_strategy_offers_the_deploy_choices() -> None:
    text = " ".join(_help("demo").split())
    assert "canary|bluegreen" in text
    out = run_cli(None, ["demo", "--strategy", "blue-green"])
    assert out.returncode == 2 and "blue-green" in out.stderr


def test_url_reaches_the_server_and_wins_over_slipway_url(served: ServeProcess) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    out = run_cli(dead, ["status", "--url", served.url])
    assert out.returncode == 0, out.stderr
    assert "active: blue" in out.stdout
    bare = served.url.removeprefix("http://")
    out = run_cli(None, ["history", "--url", bare])
    assert out.returncode == 0, out.stderr  # a bare host:port, as endpoints are written
    out = run_cli(dead, ["history"])
    assert out.returncode == 2 and "--url" in out.stderr and dead in out.stderr


def test_a_piped_table_is_not_squeezed_to_80_columns(tmp_path: Path) -> None:
    long = "http://localhost:11434/a-rather-long-path-that-makes-the-table-wide"
    (tmp_path / "slipway.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: customer-support
            active_slot: blue
            slots:
              blue: {{model: customer-support-v2.1-2026-01-15-1247examples, endpoint: "{long}"}}
              green: {{model: customer-support-v2.2-2026-02-12-1891examples, endpoint: "{long}"}}
            """
        )
    )
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as server:
        out = run_cli(server.url, ["status"], env={"COLUMNS": ""})
    assert out.returncode == 0, out.stderr
    assert long in out.stdout, out.stdout
    assert "version" in out.stdout and "versi…" not in out.stdout


def test_canary_verbs_live_under_canary_and_the_old_spellings_still_work(served: ServeProcess) -> None:
    top = _help()
    listed = {line.split()[1] for line in top.splitlines() if line.startswith("│ ") and len(line.split()) > 1}
    assert not listed & {"promote", "abort", "pause", "resume"}, listed
    canary = _help("canary")
    for verb in ("promote", "abort", "pause", "resume"):
        assert f"│ {verb}" in canary, verb
    for verb in ("promote", "abort", "pause", "resume"):
        new = run_cli(served.url, ["canary", verb])
        old = run_cli(served.url, [verb])
        assert new.returncode == old.returncode != 0, (new.stderr, old.stderr)
        assert "error" in new.stderr
        assert old.stderr.endswith(new.stderr), (old.stderr, new.stderr)
        assert f"`slipway {verb}` is now `slipway canary {verb}`" in old.stderr
        assert "is now" not in new.stderr


def test_the_readme_drill_deploys_with_the_shipped_examples(tmp_path: Path) -> None:
    """The example profiles and smoke file, served as the README says: the smoke test passes."""
    ports = [free_port(), free_port()]
    profiles = ["support-classifier.yaml", "support-classifier-regressed.yaml"]
    sims = [
        subprocess.Popen(
            [
                slipway_bin(),
                "sim",
                "serve",
                "--profile",
                str(REPO / "examples" / "sim" / name),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, port in zip(profiles, ports, strict=True)
    ]
    try:
        for proc, port in zip(sims, ports, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/v1/models", proc, 60.0, "slipway sim serve", lambda: "")
        (tmp_path / "slipway.yaml").write_text(
            textwrap.dedent(
                f"""\
                active_slot: blue
                blue: {{model: customer-support-v2.1, endpoint: "localhost:{ports[0]}"}}
                green: {{model: customer-support-v2.2, endpoint: "localhost:{ports[1]}"}}
                """
            )
        )
        smoke = str(REPO / "examples" / "smoke" / "support-smoke.jsonl")
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as server:
            for version in ("v2.2", "v2.3"):
                # Twice: each deploy is 12 fresh draws from each sim, and each must pass.
                out = run_cli(server.url, ["deploy", version, "--strategy", "bluegreen", "--smoke", smoke])
                assert out.returncode == 0, out.stdout + out.stderr
                assert f"deployed {version} in slot" in out.stdout
    finally:
        for proc in sims:
            proc.terminate()
            proc.wait(timeout=10)
