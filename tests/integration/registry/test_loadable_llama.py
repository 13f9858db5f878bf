"""The `loadable` check against the real llama-server (AD5), and our file checks agreeing with llama.cpp.

For every crafted adapter, slipway's verdict on architecture and tensor
shapes must be llama.cpp's own: what validation passes loads, what it
rejects makes llama-server refuse to start. The one deliberate difference
is the base fingerprint: llama.cpp loads the foreign adapter silently.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slipway.backends.engine import EngineStartError, find_llama_server, install_llama_server
from slipway.backends.engine.probe import probe_adapter
from slipway.cli.main import app
from slipway.core.errors import AdapterInvalid
from slipway.demo.tickets import held_out_tickets, parse_intent
from slipway.demo.tiny_model import TinyModelPaths
from slipway.registry.loadable import add_loadable_check, check_loadable
from slipway.registry.report import CheckStatus
from slipway.registry.validate import validate_adapter

pytestmark = pytest.mark.llama

TICKET = held_out_tickets(200, seed=0)[0]  # v2.1 answers it right (see the engine tests)


@pytest.fixture(scope="module")
def engine() -> Path:
    return find_llama_server() or install_llama_server()


async def test_the_probe_loads_v2_1_and_gets_a_label(
    engine: Path, tiny: TinyModelPaths, tmp_path: Path
) -> None:
    text = await probe_adapter(
        tiny.base, tiny.v2_1, TICKET.prompt, binary=engine, log_path=tmp_path / "e.log"
    )
    assert parse_intent(text) in ("billing", "account", "shipping", "technical")


async def test_loadable_check_passes_for_the_shipped_adapters(engine: Path, tiny: TinyModelPaths) -> None:
    probe = functools.partial(probe_adapter, binary=engine)
    for adapter in tiny.adapters:
        report = await add_loadable_check(validate_adapter(adapter, tiny.base), probe, prompt=TICKET.prompt)
        assert report.ok
        loadable = report.get("loadable")
        assert loadable is not None and loadable.status is CheckStatus.PASSED
        assert loadable.seconds > 0


@pytest.mark.parametrize(
    ("variant", "loads"),
    [
        ("token-embd", True),
        ("wrong-arch", False),
        ("wrong-n-out", False),
        ("wrong-rank", False),
        ("transposed", False),
        ("token-embd-unflipped", False),
        ("not-lora", False),
        ("truncated-half", False),
        ("corrupt-magic", False),
    ],
)
async def test_file_checks_agree_with_llama_cpp(
    engine: Path, tiny: TinyModelPaths, variants: dict[str, Path], variant: str, loads: bool, tmp_path: Path
) -> None:
    path = variants[variant]
    report = validate_adapter(path, tiny.base)
    # the fingerprint is slipway's own check; llama.cpp knows nothing of it
    file_checks_ok = all(c.status is CheckStatus.PASSED for c in report.checks if c.name != "base-identity")
    assert file_checks_ok is loads, [(c.name, c.detail) for c in report.failures]
    # ask the engine directly, bypassing the "never load a failed adapter" rule
    probe = functools.partial(
        probe_adapter, binary=engine, startup_timeout=30, log_path=tmp_path / "engine.log"
    )
    result = await check_loadable(path, tiny.base, probe, prompt=TICKET.prompt)
    assert (result.status is CheckStatus.PASSED) is loads, result.detail
    if not loads:
        assert isinstance(result.error, AdapterInvalid)
        assert result.error.check == "loadable"
        assert str(path) in str(result.error)


async def test_engine_start_error_names_the_adapter_and_keeps_the_log(
    engine: Path, tiny: TinyModelPaths, variants: dict[str, Path], tmp_path: Path
) -> None:
    log = tmp_path / "engine.log"
    with pytest.raises(EngineStartError) as caught:
        await probe_adapter(tiny.base, variants["wrong-n-out"], "hi", binary=engine, log_path=log)
    assert caught.value.adapter == variants["wrong-n-out"]
    assert "incorrect shape" in log.read_text()


async def test_llama_cpp_loads_the_wrong_base_adapter_only_slipway_refuses(
    engine: Path, tiny: TinyModelPaths
) -> None:
    probe = functools.partial(probe_adapter, binary=engine)
    loaded = await check_loadable(tiny.wrong_base_adapter, tiny.base, probe, prompt=TICKET.prompt)
    assert loaded.status is CheckStatus.PASSED
    report = await add_loadable_check(validate_adapter(tiny.wrong_base_adapter, tiny.base), probe)
    assert [c.name for c in report.failures] == ["base-identity"]
    loadable = report.get("loadable")
    assert loadable is not None and loadable.status is CheckStatus.SKIPPED


def test_cli_validate_load(engine: Path, tiny: TinyModelPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_LLAMA_SERVER", str(engine))
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(
        app, ["adapters", "validate", str(tiny.v2_2), "--base", str(tiny.base), "--load", "--json"]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["loadable"]["status"] == "pass"
    assert checks["loadable"]["detail"].startswith("answered 'Hello' with ")
