"""`slipway adapters` with PEFT adapter directories beside GGUF files: validate, add, list, show.

The model `customer-support` holds the tiny GGUF base and a tiny Hugging
Face base directory (`base/tiny-llama/`); GGUF versions are checked
against the first, PEFT directories against the second, and both kinds
share one version history. `--load` for PEFT talks to a vLLM endpoint: here
the protocol-faithful fake of vLLM's adapter routes (tests/fakes, NOT vLLM)
served by a real uvicorn on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.fakes.vllm_protocol import create_vllm_protocol_fake
from tests.peft_files import PeftCorpus, build_peft_corpus, write_hf_base, write_peft_adapter
from tests.processes import slipway_bin
from tests.servers import run_asgi
from typer.testing import CliRunner

from slipway.cli.main import app
from slipway.core.errors import VersionExistsError
from slipway.demo.tiny_model import TinyModelPaths
from slipway.registry.hf_base import open_hf_base
from slipway.registry.storage import copy_new_dir

MODEL = "customer-support"
DATE = ("--version", "v3.0", "--date", "2026-02-01", "--examples", "500")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PeftCorpus:
    return build_peft_corpus(tmp_path_factory.mktemp("peft"))


@pytest.fixture
def models(registry: Path, corpus: PeftCorpus) -> Path:
    """The GGUF registry plus the tiny Hugging Face base beside the GGUF base."""
    write_hf_base(registry / MODEL / "base" / "tiny-llama", name_or_path="acme/tiny-llama")
    return registry


@pytest.fixture
def runner(models: Path) -> CliRunner:
    return CliRunner(env={"SLIPWAY_MODELS_DIR": str(models), "COLUMNS": "220"})


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["adapters", *args])
    return result.exit_code, result.stdout, result.stderr


def test_validate_a_peft_directory(runner: CliRunner, corpus: PeftCorpus, tmp_path: Path) -> None:
    code, out, _ = run(runner, "validate", str(corpus.good), "--base", str(corpus.base))
    assert code == 0, out
    for check in ("peft-config", "safetensors-intact", "target-modules", "lora-shapes", "max-rank"):
        assert check in out
    assert "verified: base model name matches; architecture matches; tensor shapes matches" in out
    assert "valid in" in out and "skipped: not asked (use --load)" in out

    anonymous = write_peft_adapter(tmp_path / "anonymous", base_name=None)
    code, out, _ = run(runner, "validate", str(anonymous), "--base", str(corpus.base))
    assert code == 0, out
    assert "warning: base-identity" in out and "unknown:" in out and "--trust-base" in out
    assert "valid, with 1 warning(s)" in out
    code, out, _ = run(runner, "validate", str(anonymous), "--base", str(corpus.base), "--strict")
    assert code == 1, out

    code, out, _ = run(runner, "validate", str(corpus.broken["wrong-shape"]), "--base", str(corpus.base))
    assert code == 1
    assert "✗ lora-shapes" in out and "found:" in out and "[16, 4]" in out and "what to do:" in out

    code, out, _ = run(runner, "validate", str(corpus.good), "--base", str(corpus.base), "--max-rank", "2")
    assert code == 1 and "✗ max-rank" in out and "--max-lora-rank of at least 4" in out

    code, out, _ = run(
        runner, "validate", str(corpus.broken["truncated"]), "--base", str(corpus.base), "--json"
    )
    assert code == 1
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert checks["safetensors-intact"]["status"] == "fail"
    assert checks["safetensors-intact"]["error"]["code"] == "adapter_invalid"
    assert checks["base-identity"]["status"] == "warn"


def test_add_list_show_a_peft_version_beside_gguf_ones(
    runner: CliRunner, tiny: TinyModelPaths, corpus: PeftCorpus, models: Path
) -> None:
    assert run(runner, "add", str(tiny.v2_1), "--model", MODEL)[0] == 0
    code, out, err = run(runner, "add", str(corpus.good), "--model", MODEL, *DATE, "--notes", "peft first")
    assert code == 0, out + err
    assert "added v3.0 to customer-support" in out
    stored = models / MODEL / "adapters" / "v3.0-2026-02-01-500examples"
    assert sorted(p.name for p in stored.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert (stored / "adapter_model.safetensors").read_bytes() == (
        corpus.good / "adapter_model.safetensors"
    ).read_bytes()
    assert not [p for p in stored.parent.iterdir() if p.name.endswith(".partial")]
    sidecar = json.loads((stored.parent / "v3.0-2026-02-01-500examples.json").read_text())
    assert sidecar["validated_against"] == "tiny-llama" and sidecar["notes"] == "peft first"
    assert set(sidecar["files"]) == {"adapter_config.json", "adapter_model.safetensors"}
    assert "base_fingerprint" not in sidecar  # verified by its name, its modules and its shapes

    code, out, _ = run(runner, "list", "--json")
    assert code == 0
    support = next(m for m in json.loads(out)["models"] if m["name"] == MODEL)
    assert [(a["version"], a["kind"], a["base_status"]) for a in support["adapters"]] == [
        ("v2.1", "gguf", "verified"),
        ("v3.0", "peft", "verified"),
    ]
    assert sorted((b["file"], b["kind"]) for b in support["bases"]) == [
        ("tiny-llama", "peft"),
        ("tiny-support-base.gguf", "gguf"),
    ]
    code, out, _ = run(runner, "list")
    assert "v3.0 (peft)" in out and "base tiny-llama/" in out

    code, out, _ = run(runner, "show", "v3.0", "--model", MODEL)
    assert code == 0, out
    assert "directory (PEFT)" in out and "(matches when added)" in out and "peft first" in out
    assert "rank 4, alpha 8.0, targets q_proj, v_proj" in out
    code, out, _ = run(runner, "show", "v3.0", "--model", MODEL, "--json")
    shown = json.loads(out)
    assert shown["kind"] == "peft" and shown["sha256"] == shown["sha256_recorded"]


def test_an_unknown_base_is_refused_until_vouched_for(
    runner: CliRunner, corpus: PeftCorpus, models: Path, tmp_path: Path
) -> None:
    anonymous = write_peft_adapter(tmp_path / "anonymous", base_name=None)
    code, out, err = run(runner, "add", str(anonymous), "--model", MODEL, *DATE)
    assert code == 1, out + err
    assert "refused:" in err and "its base is unknown" in out
    assert not (models / MODEL / "adapters" / "v3.0-2026-02-01-500examples").exists()

    code, out, err = run(
        runner, "add", str(anonymous), "--model", MODEL, *DATE, "--trust-base", "--by", "alice"
    )
    assert code == 0, out + err
    assert "recorded on the word of alice (--trust-base)" in out
    assert "verified: fingerprint matches (sidecar)" in out
    fingerprint = open_hf_base(models / MODEL / "base" / "tiny-llama").fingerprint
    sidecar = json.loads((models / MODEL / "adapters" / "v3.0-2026-02-01-500examples.json").read_text())
    assert sidecar["base_fingerprint"] == fingerprint and sidecar["base_trusted"]["by"] == "alice"
    code, out, _ = run(runner, "list", "--json")
    support = next(m for m in json.loads(out)["models"] if m["name"] == MODEL)
    assert support["adapters"][0]["base_status"] == "trusted"
    assert support["adapters"][0]["base_match"] == ["tiny-llama"]
    assert support["adapters"][0]["base_trusted"]["by"] == "alice"

    # A verified adapter needs no vouching, and nothing is recorded on anyone's word.
    code, out, err = run(
        runner, "add", str(corpus.good), "--model", MODEL, "--version", "v3.1", *DATE[2:], "--trust-base"
    )
    assert code == 0, out + err
    assert "--trust-base not needed" in out


def test_a_base_architecture_slipway_does_not_know_can_be_vouched_for(
    runner: CliRunner, registry: Path, tmp_path: Path
) -> None:
    """What slipway cannot check (module names of an unknown architecture) is left to the engine's
    load, said in a warning; it does not make the adapter impossible to add."""
    write_hf_base(
        registry / "gpt" / "base" / "tiny-gpt",
        config={"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]},
    )
    anonymous = write_peft_adapter(tmp_path / "anonymous", base_name=None)
    code, out, err = run(runner, "add", str(anonymous), "--model", "gpt", *DATE)
    assert code == 1 and "its base is unknown" in err, out + err
    code, out, err = run(runner, "add", str(anonymous), "--model", "gpt", *DATE, "--trust-base", "--by", "bo")
    assert code == 0, out + err
    assert "does not know the module names of model_type 'gpt2'" in out
    assert (registry / "gpt" / "adapters" / "v3.0-2026-02-01-500examples").is_dir()
    # validate says so too: exit 0, and 1 with --strict, which refuses every unchecked part
    base = registry / "gpt" / "base" / "tiny-gpt"
    assert run(runner, "validate", str(anonymous), "--base", str(base))[0] == 0
    assert run(runner, "validate", str(anonymous), "--base", str(base), "--strict")[0] == 1


@pytest.mark.parametrize("tag", ["truncated", "wrong-base", "rank-too-high", "unknown-target"])
def test_add_refuses_a_broken_directory_and_writes_nothing(
    runner: CliRunner, corpus: PeftCorpus, models: Path, tag: str
) -> None:
    code, out, err = run(runner, "add", str(corpus.broken[tag]), "--model", MODEL, *DATE)
    assert code == 1, out
    assert "refused:" in err and "✗" in out
    adapters = models / MODEL / "adapters"
    assert not adapters.exists() or not any(adapters.iterdir())


def test_versions_are_never_replaced_across_kinds(
    runner: CliRunner, tiny: TinyModelPaths, corpus: PeftCorpus, models: Path, tmp_path: Path
) -> None:
    assert run(runner, "add", str(tiny.v2_1), "--model", MODEL)[0] == 0
    code, _, err = run(runner, "add", str(corpus.good), "--model", MODEL, "--version", "v2.1", *DATE[2:])
    assert code == 2 and "already has version v2.1" in err and "never replaced" in err
    named = write_peft_adapter(tmp_path / "v3.1-2026-02-02-77examples")
    code, out, err = run(runner, "add", str(named), "--model", MODEL)
    assert code == 0, out + err  # the directory's own name gives version, date and examples
    code, _, err = run(runner, "add", str(named), "--model", MODEL)
    assert code == 2 and "already has version v3.1" in err
    code, _, err = run(runner, "add", str(corpus.good), "--model", MODEL)
    assert code == 1 and "--version ... --date ... --examples ..." in err


def test_show_notices_a_directory_changed_after_it_was_added(
    runner: CliRunner, corpus: PeftCorpus, models: Path
) -> None:
    assert run(runner, "add", str(corpus.good), "--model", MODEL, *DATE)[0] == 0
    weights = models / MODEL / "adapters" / "v3.0-2026-02-01-500examples" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    code, out, _ = run(runner, "show", "v3.0", "--model", MODEL)
    assert code == 0 and "CHANGED since added" in out


def test_a_peft_adapter_needs_a_hugging_face_base(registry: Path, corpus: PeftCorpus) -> None:
    runner = CliRunner(env={"SLIPWAY_MODELS_DIR": str(registry), "COLUMNS": "220"})
    code, _, err = run(runner, "add", str(corpus.good), "--model", MODEL, *DATE)
    assert code == 2
    assert "no base model (Hugging Face directory" in err and "base/ first" in err


def test_copy_new_dir_never_replaces_and_leaves_no_partial(corpus: PeftCorpus, tmp_path: Path) -> None:
    target = tmp_path / "v1.0-2026-01-01-1examples"
    target.mkdir()  # even an empty directory is a version that exists
    with pytest.raises(VersionExistsError):
        copy_new_dir(corpus.good, target)
    assert os.listdir(tmp_path) == [target.name]
    target.rmdir()
    digests = copy_new_dir(corpus.good, target)
    assert set(digests) == {"adapter_config.json", "adapter_model.safetensors"}
    assert os.listdir(tmp_path) == [target.name]


def test_load_asks_the_vllm_endpoint(runner: CliRunner, corpus: PeftCorpus) -> None:
    args = ("validate", str(corpus.good), "--base", str(corpus.base), "--load")
    code, out, _ = run(runner, *args)
    assert code == 0 and "skipped: no vLLM to load it in: pass --endpoint" in out

    fake = create_vllm_protocol_fake("acme/tiny-llama")
    with run_asgi(fake) as url:
        code, out, _ = run(runner, *args, "--endpoint", url, "--json")
    assert code == 0, out
    loadable = next(c for c in json.loads(out)["checks"] if c["check"] == "loadable")
    assert loadable["status"] == "pass" and "answer from slipway-probe-" in loadable["detail"]
    assert fake.state.fake.adapters == {}  # the throwaway name was unloaded again

    with run_asgi(create_vllm_protocol_fake("acme/tiny-llama", runtime_lora_updating=False)) as url:
        code, out, _ = run(runner, *args, "--endpoint", url, "--json")
    assert code == 1
    loadable = next(c for c in json.loads(out)["checks"] if c["check"] == "loadable")
    assert loadable["status"] == "fail" and "VLLM_ALLOW_RUNTIME_LORA_UPDATING" in loadable["error"]["hint"]

    # A directory that fails a file check is never sent to the engine.
    code, out, _ = run(
        runner, "validate", str(corpus.broken["truncated"]), "--base", str(corpus.base), "--load"
    )
    assert code == 1 and "skipped: a file check failed" in out


def test_two_processes_adding_the_same_version_leave_one_whole_copy(corpus: PeftCorpus, models: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env |= {"SLIPWAY_MODELS_DIR": str(models), "NO_COLOR": "1"}
    cmd = [slipway_bin(), "adapters", "add", str(corpus.good), "--model", MODEL, *DATE]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert "v3.0" in loser and (
        "already has version" in loser or "appeared while" in loser or "already exists" in loser
    )
    adapters = models / MODEL / "adapters"
    assert sorted(p.name for p in adapters.iterdir() if not p.name.startswith(".slipway")) == [
        "v3.0-2026-02-01-500examples",
        "v3.0-2026-02-01-500examples.json",
    ]
    stored = adapters / "v3.0-2026-02-01-500examples"
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (stored / name).read_bytes() == (corpus.good / name).read_bytes()


def test_a_partial_copy_left_by_a_crash_is_not_a_version(runner: CliRunner, models: Path) -> None:
    partial = models / MODEL / "adapters" / ".v3.0-2026-02-01-500examples.x1y2.partial"
    partial.mkdir(parents=True)
    (partial / "adapter_config.json").write_text("{")
    code, out, _ = run(runner, "list", "--json")
    assert code == 0
    support = next(m for m in json.loads(out)["models"] if m["name"] == MODEL)
    assert support["adapters"] == []


def test_a_peft_version_copied_in_by_hand_is_vouched_for_in_place(
    runner: CliRunner, models: Path, tmp_path: Path
) -> None:
    anonymous = write_peft_adapter(tmp_path / "anonymous", base_name=None)
    placed = models / MODEL / "adapters" / "v3.0-2026-02-01-500examples"
    placed.parent.mkdir(parents=True, exist_ok=True)
    copy_new_dir(anonymous, placed)
    code, out, err = run(runner, "trust", "v3.0", "--model", MODEL, "--by", "erin", "--json")
    assert code == 0, out + err
    identity = json.loads(out)["identity"]
    assert identity["state"] == "verified" and identity["trusted"]["by"] == "erin"
    sidecar = json.loads((placed.parent / (placed.name + ".json")).read_text())
    assert sidecar["base_fingerprint"] == open_hf_base(models / MODEL / "base" / "tiny-llama").fingerprint
