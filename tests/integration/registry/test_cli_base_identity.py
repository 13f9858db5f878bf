"""`slipway adapters` on adapters converted by llama.cpp's converter: validate, add --trust-base, show, list.

What a new user meets first: an adapter slipway never stamped. One naming
this base validates; one naming another base fails; one recording nothing
is a warning (an error with --strict), and `add` takes it only on someone's
recorded word.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.gguf_files import fingerprint_of, hf_model_dir, lora_pair, write_adapter, write_base
from typer.testing import CliRunner

from slipway.cli.main import app

MODEL = "support"
LLAMA = "meta-llama/Llama-3.2-1B-Instruct"
N_EMBD, N_VOCAB = 8, 12


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    model_dir = hf_model_dir(tmp_path / "hf" / "Llama-3.2-1B-Instruct", name_or_path=LLAMA)
    write_base(
        root / MODEL / "base" / "llama-3.2-1b.gguf", n_embd=N_EMBD, n_vocab=N_VOCAB, model_dir=model_dir
    )
    return root


@pytest.fixture
def runner(registry: Path) -> CliRunner:
    env = {"SLIPWAY_MODELS_DIR": str(registry), "COLUMNS": "250", "LOGNAME": "bob", "USER": "bob"}
    return CliRunner(env=env)


def converted(tmp_path: Path, tag: str, base_model: str | None) -> Path:
    card = {"library_name": "peft", **({"base_model": base_model} if base_model else {})}
    peft_dir = hf_model_dir(tmp_path / "peft" / tag, card=card)
    return write_adapter(
        tmp_path / "downloads" / tag / "v1.0-2026-03-01-500examples.gguf",
        lora_pair("output.weight", N_VOCAB, N_EMBD),
        model_dir=peft_dir,
    )


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["adapters", *args])
    return result.exit_code, result.stdout, result.stderr


def base_of(registry: Path) -> Path:
    return registry / MODEL / "base" / "llama-3.2-1b.gguf"


def test_validate_three_states_and_strict(runner: CliRunner, registry: Path, tmp_path: Path) -> None:
    base = str(base_of(registry))
    good = converted(tmp_path, "good", LLAMA)
    code, out, _ = run(runner, "validate", str(good), "--base", base)
    assert code == 0, out
    assert "base-identity" in out and "'Llama 3.2 1B Instruct'" in out and "valid in" in out
    assert run(runner, "validate", str(good), "--base", base, "--strict")[0] == 0

    other = converted(tmp_path, "other", "Qwen/Qwen2.5-0.5B-Instruct")
    code, out, _ = run(runner, "validate", str(other), "--base", base)
    assert code == 1
    assert (
        "✗ base-identity" in out and "'Qwen2.5 0.5B Instruct'" in out and "invalid (1 check(s) failed)" in out
    )

    unknown = converted(tmp_path, "unknown", None)
    code, out, _ = run(runner, "validate", str(unknown), "--base", base)
    assert code == 0, out
    assert "warning: base-identity" in out and "valid, with 1 warning(s)" in out
    assert "--trust-base [--by NAME]" in out and fingerprint_of(base_of(registry)) in out
    code, out, _ = run(runner, "validate", str(unknown), "--base", base, "--strict")
    assert code == 1 and "warning: base-identity" in out


def test_validate_json_carries_the_state_and_evidence(
    runner: CliRunner, registry: Path, tmp_path: Path
) -> None:
    base = str(base_of(registry))
    code, out, _ = run(runner, "validate", str(converted(tmp_path, "u", None)), "--base", base, "--json")
    assert code == 0
    body = json.loads(out)
    assert (body["ok"], body["settled"], body["warnings"]) == (True, False, 1)
    check = next(c for c in body["checks"] if c["check"] == "base-identity")
    assert check["status"] == "warn" and check["identity"]["state"] == "unknown"
    assert check["error"]["code"] == "base_unknown" and "--trust-base" in check["error"]["hint"]
    code, out, _ = run(runner, "validate", str(converted(tmp_path, "g", LLAMA)), "--base", base, "--json")
    check = next(c for c in json.loads(out)["checks"] if c["check"] == "base-identity")
    assert check["status"] == "pass" and check["identity"]["state"] == "verified"
    subjects = {e["subject"]: e["verdict"] for e in check["identity"]["evidence"]}
    assert subjects["organization and name"] == "match" and subjects["vocabulary"] == "match"


def test_add_refuses_an_unknown_base_until_someone_vouches(
    runner: CliRunner, registry: Path, tmp_path: Path
) -> None:
    unknown = converted(tmp_path, "unknown", None)
    code, out, err = run(runner, "add", str(unknown), "--model", MODEL)
    assert code == 1
    assert "its base is unknown" in err and "--trust-base" in out
    assert not (registry / MODEL / "adapters").exists()

    code, out, err = run(runner, "add", str(unknown), "--model", MODEL, "--trust-base", "--by", "alice")
    assert code == 0, out + err
    assert "on the word of alice (--trust-base)" in out
    stored = registry / MODEL / "adapters" / unknown.name
    sidecar = json.loads(stored.with_suffix(".json").read_text())
    assert sidecar["base_fingerprint"] == fingerprint_of(base_of(registry))
    assert sidecar["base_trusted"]["by"] == "alice" and sidecar["base_trusted"]["base"] == "llama-3.2-1b.gguf"
    assert sidecar["base_trusted"]["at"].startswith("20")

    code, out, _ = run(runner, "show", "v1.0", "--model", MODEL)
    assert code == 0 and "trusted by alice" in out and "on the word of alice" in out
    code, out, _ = run(runner, "list", "--json")
    [entry] = json.loads(out)["models"][0]["adapters"]
    assert entry["base_status"] == "trusted" and entry["base_trusted"]["by"] == "alice"
    assert entry["base_match"] == ["llama-3.2-1b.gguf"]
    code, out, _ = run(runner, "list")
    assert "trusted by alice" in out


def test_trust_defaults_to_the_os_user_and_never_overrides_a_mismatch(
    runner: CliRunner, registry: Path, tmp_path: Path
) -> None:
    code, out, err = run(runner, "add", str(converted(tmp_path, "u", None)), "--model", MODEL, "--trust-base")
    assert code == 0, out + err
    sidecar = json.loads((registry / MODEL / "adapters" / "v1.0-2026-03-01-500examples.json").read_text())
    assert sidecar["base_trusted"]["by"] == "bob"

    other = converted(tmp_path, "other", "Qwen/Qwen2.5-0.5B-Instruct")
    code, out, err = run(runner, "add", str(other), "--model", MODEL, "--version", "v1.1", "--trust-base")
    assert code == 1 and "refused" in err and "'Qwen2.5 0.5B Instruct'" in out
    code, _, err = run(runner, "add", str(other), "--model", MODEL, "--trust-base", "--by", "")
    assert code == 2 and "--by" in err


def test_an_adapter_naming_this_base_is_added_without_any_word(
    runner: CliRunner, registry: Path, tmp_path: Path
) -> None:
    code, out, err = run(runner, "add", str(converted(tmp_path, "g", LLAMA)), "--model", MODEL)
    assert code == 0, out + err
    code, out, _ = run(runner, "list", "--json")
    [entry] = json.loads(out)["models"][0]["adapters"]
    assert entry["base_status"] == "verified" and entry["base_trusted"] is None


def test_a_version_copied_into_the_registry_by_hand_is_vouched_for_in_place(
    runner: CliRunner, registry: Path, tmp_path: Path
) -> None:
    adapters = registry / MODEL / "adapters"
    adapters.mkdir(parents=True)
    # Copied in by hand, with a note in a sidecar of its own: its base is unknown
    anonymous = converted(tmp_path, "anonymous", None)
    placed = adapters / anonymous.name
    placed.write_bytes(anonymous.read_bytes())
    placed.with_suffix(".json").write_text(json.dumps({"notes": "from the training team"}))
    code, out, _ = run(runner, "list", "--json")
    assert json.loads(out)["models"][0]["adapters"][0]["base_status"] == "unknown"

    code, out, err = run(runner, "trust", "v1.0", "--model", MODEL, "--by", "carol")
    assert code == 0, out + err
    assert "base recorded on the word of carol" in out
    sidecar = json.loads(placed.with_suffix(".json").read_text())
    assert sidecar["notes"] == "from the training team"
    assert sidecar["base_fingerprint"] == fingerprint_of(base_of(registry))
    assert sidecar["base_trusted"]["by"] == "carol" and sidecar["base_trusted"]["base"] == "llama-3.2-1b.gguf"
    code, out, _ = run(runner, "list", "--json")
    assert json.loads(out)["models"][0]["adapters"][0]["base_status"] == "trusted"

    # Again: already settled, nothing recorded on anyone's word
    code, out, err = run(runner, "trust", "v1.0", "--model", MODEL, "--by", "dave", "--json")
    assert code == 0, out + err
    assert json.loads(out)["identity"]["trusted"]["by"] == "carol"


def test_a_version_trained_for_another_base_cannot_be_vouched_for(
    runner: CliRunner, registry: Path, tmp_path: Path
) -> None:
    adapters = registry / MODEL / "adapters"
    adapters.mkdir(parents=True)
    other = converted(tmp_path, "other", "Qwen/Qwen2.5-0.5B-Instruct")
    placed = adapters / other.name
    placed.write_bytes(other.read_bytes())
    code, out, err = run(runner, "trust", "v1.0", "--model", MODEL)
    assert code == 1
    assert "trained for another base" in out + err and "nobody's word changes that" in out + err
    assert not placed.with_suffix(".json").exists()
