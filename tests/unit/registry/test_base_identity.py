"""The base identity of adapters converted by llama.cpp: verified, mismatch or unknown, from what they record.

The bases and adapters carry the general.* keys `gguf.Metadata` derives from
a Hugging Face directory (config.json's `_name_or_path`, the model card's
`base_model`), the same reading convert_hf_to_gguf.py and
convert_lora_to_gguf.py do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.gguf_files import fingerprint_of, hf_model_dir, lora_pair, write_adapter, write_base

from slipway.core.errors import AdapterInvalid, AdapterMismatchError, BaseUnknownError, ValidationError
from slipway.registry.identity import Evidence, IdentityState, Verdict, Weight, check_trusted_by, judge
from slipway.registry.report import CheckResult, CheckStatus, ValidationReport
from slipway.registry.validate import validate_adapter

N_EMBD, N_VOCAB = 8, 12
LLAMA = "meta-llama/Llama-3.2-1B-Instruct"


def converted_base(tmp_path: Path, model_id: str = LLAMA, *, with_org: bool = True) -> Path:
    """A base converted from a local HF directory named like the repo, as most people do it."""
    name = model_id.rsplit("/", 1)[-1]
    model_dir = hf_model_dir(tmp_path / "hf" / name, name_or_path=model_id if with_org else None)
    return write_base(tmp_path / "base" / f"{name}.gguf", n_embd=N_EMBD, n_vocab=N_VOCAB, model_dir=model_dir)


def converted_adapter(tmp_path: Path, base_model: str | None, *, n_vocab: int = N_VOCAB) -> Path:
    """A PEFT LoRA whose model card names `base_model`, converted like convert_lora_to_gguf.py does."""
    card = {"library_name": "peft"}
    if base_model is not None:
        card["base_model"] = base_model
    peft_dir = hf_model_dir(tmp_path / "peft" / "support-lora", card=card)
    return write_adapter(
        tmp_path / "adapters" / "support-lora.gguf",
        lora_pair("output.weight", n_vocab, N_EMBD),
        model_dir=peft_dir,
    )


def identity_check(report: ValidationReport) -> CheckResult:
    check = report.get("base-identity")
    assert check is not None and check.identity is not None
    return check


def test_an_adapter_naming_this_base_is_verified(tmp_path: Path) -> None:
    base = converted_base(tmp_path)
    report = validate_adapter(converted_adapter(tmp_path, LLAMA), base)
    check = identity_check(report)
    assert check.status is CheckStatus.PASSED and report.settled
    identity = check.identity
    assert identity is not None and identity.state is IdentityState.VERIFIED
    assert "'Llama 3.2 1B Instruct'" in check.detail and "Llama-3.2-1B-Instruct.gguf" in check.detail
    verdicts = {e.subject: e.verdict for e in identity.evidence}
    assert verdicts["organization and name"] is Verdict.MATCH
    assert verdicts["architecture"] is Verdict.MATCH and verdicts["tensor shapes"] is Verdict.MATCH
    assert verdicts["vocabulary"] is Verdict.MATCH  # LoRA on output.weight spans the vocabulary


def test_an_adapter_naming_another_base_is_a_mismatch_that_names_both(tmp_path: Path) -> None:
    base = converted_base(tmp_path)
    report = validate_adapter(converted_adapter(tmp_path, "Qwen/Qwen2.5-0.5B-Instruct"), base)
    check = identity_check(report)
    assert check.status is CheckStatus.FAILED and not report.ok
    error = check.error
    assert isinstance(error, AdapterMismatchError)
    assert error.found is not None and "'Qwen2.5 0.5B Instruct'" in error.found
    assert error.expected is not None and "'Llama 3.2 1B Instruct'" in error.expected
    assert "Llama-3.2-1B-Instruct.gguf" in error.reason
    assert error.hint and "the base it names" in error.hint
    # the shapes alone would have let it through: same architecture, same sizes
    assert report.get("tensor-shapes") is not None
    assert [c.name for c in report.failures] == ["base-identity"]


def test_an_adapter_recording_nothing_is_unknown_a_warning(tmp_path: Path) -> None:
    base = converted_base(tmp_path)
    path = converted_adapter(tmp_path, None)
    report = validate_adapter(path, base)
    check = identity_check(report)
    assert check.status is CheckStatus.WARNED
    assert report.ok and not report.settled and report.warnings == (check,)
    assert isinstance(check.error, BaseUnknownError)
    assert "no slipway.base_fingerprint and no general.base_model.* keys" in check.detail
    assert "architecture fit" in check.detail and "tensor shapes fit" in check.detail
    hint = check.error.hint or ""
    assert "--trust-base [--by NAME]" in hint and f'"base_fingerprint": "{fingerprint_of(base)}"' in hint
    assert "support-lora.json" in hint
    body = report.to_dict()
    assert body["ok"] is True and body["settled"] is False and body["warnings"] == 1


def test_a_name_alone_verifies_only_when_every_shape_fits(tmp_path: Path) -> None:
    # a base converted without its organization: only the name can be compared
    base = converted_base(tmp_path, with_org=False)
    good = validate_adapter(converted_adapter(tmp_path, LLAMA), base)
    identity = identity_check(good).identity
    assert identity is not None and identity.state is IdentityState.VERIFIED
    assert {e.subject for e in identity.evidence} >= {"name", "architecture", "tensor shapes"}
    # the same name, but a vocabulary of another size: the name is not believed
    bad = validate_adapter(converted_adapter(tmp_path / "bad", LLAMA, n_vocab=N_VOCAB + 4), base)
    identity = identity_check(bad).identity
    assert identity is not None and identity.state is IdentityState.MISMATCH
    assert {c.name for c in bad.failures} == {"tensor-shapes", "base-identity"}


def test_another_repository_is_a_mismatch_and_without_one_the_name_decides(tmp_path: Path) -> None:
    base = converted_base(tmp_path)
    # a mirror under another organization: the converter records its repo_url
    report = validate_adapter(
        converted_adapter(tmp_path, "https://huggingface.co/someone/Llama-3.2-1B-Instruct"), base
    )
    # the base records no repo_url, so the name decides and the organization differs only as a note
    identity = identity_check(report).identity
    assert identity is not None and identity.state is IdentityState.VERIFIED
    assert any(e.subject == "organization" and e.verdict is Verdict.UNCHECKED for e in identity.evidence)
    # a base that records its repository: another repository is another base
    model_dir = hf_model_dir(tmp_path / "hf2" / "Llama-3.2-1B-Instruct", name_or_path=LLAMA)
    (model_dir / "README.md").write_text(f"---\nrepo_url: https://huggingface.co/{LLAMA}\n---\n")
    with_repo = write_base(tmp_path / "base2" / "b.gguf", n_embd=N_EMBD, n_vocab=N_VOCAB, model_dir=model_dir)
    report = validate_adapter(
        converted_adapter(tmp_path / "m", "https://huggingface.co/someone/Llama-3.2-1B-Instruct"), with_repo
    )
    check = identity_check(report)
    assert check.status is CheckStatus.FAILED
    assert check.identity is not None and check.identity.state is IdentityState.MISMATCH
    assert "repository: adapter 'https://huggingface.co/someone/" in check.detail
    assert check.error is not None and check.error.found is not None and "Someone/" in check.error.found


def test_the_fingerprint_wins_over_the_recorded_name(tmp_path: Path) -> None:
    base = converted_base(tmp_path)
    path = converted_adapter(tmp_path, "Qwen/Qwen2.5-0.5B-Instruct")
    path.with_suffix(".json").write_text(json.dumps({"base_fingerprint": fingerprint_of(base)}))
    check = identity_check(validate_adapter(path, base))
    assert check.status is CheckStatus.PASSED and "from the sidecar" in check.detail


def test_a_trust_record_is_shown_and_a_malformed_one_named(tmp_path: Path) -> None:
    base = converted_base(tmp_path)
    path = converted_adapter(tmp_path, None)
    sidecar = path.with_suffix(".json")
    record = {"by": "alice", "at": "2026-03-10T12:00:00+00:00", "base": base.name}
    sidecar.write_text(json.dumps({"base_fingerprint": fingerprint_of(base), "base_trusted": record}))
    check = identity_check(validate_adapter(path, base))
    assert check.status is CheckStatus.PASSED
    assert check.identity is not None and check.identity.trust is not None
    assert check.identity.trust.by == "alice" and "on the word of alice" in check.detail
    sidecar.write_text(json.dumps({"base_fingerprint": fingerprint_of(base), "base_trusted": {"by": ""}}))
    check = identity_check_failed(validate_adapter(path, base))
    assert isinstance(check.error, AdapterInvalid)
    assert "base_trusted.by" in check.detail and "support-lora.json" in check.detail


def identity_check_failed(report: ValidationReport) -> CheckResult:
    check = report.get("base-identity")
    assert check is not None and check.status is CheckStatus.FAILED
    return check


@pytest.mark.parametrize(
    ("recorded", "state"),
    [
        ("meta-llama/Llama-3.2-1B-Instruct", IdentityState.VERIFIED),
        ("meta-llama/Llama-3.2-1B", IdentityState.MISMATCH),  # the base model, not its instruct tune
        ("meta-llama/Llama-3.1-8B-Instruct", IdentityState.MISMATCH),
    ],
)
def test_names_are_compared_whole(tmp_path: Path, recorded: str, state: IdentityState) -> None:
    base = converted_base(tmp_path)
    identity = identity_check(validate_adapter(converted_adapter(tmp_path, recorded), base)).identity
    assert identity is not None and identity.state is state


def ev(subject: str, verdict: Verdict, weight: Weight) -> Evidence:
    return Evidence(subject, verdict, weight, f"{subject} {verdict}")


FITS = [
    ev("architecture", Verdict.MATCH, Weight.SUPPORTING),
    ev("tensor shapes", Verdict.MATCH, Weight.SUPPORTING),
]


@pytest.mark.parametrize(
    ("evidence", "state"),
    [
        # what another reader (a PEFT directory's base_model_name_or_path) can hand in, judged alike
        ([ev("base_model_name_or_path", Verdict.MATCH, Weight.STRONG)], IdentityState.VERIFIED),
        ([ev("base_model_name_or_path", Verdict.DIFFER, Weight.STRONG), *FITS], IdentityState.MISMATCH),
        (
            [ev("repository", Verdict.MATCH, Weight.STRONG), ev("name", Verdict.DIFFER, Weight.NAME)],
            IdentityState.VERIFIED,
        ),
        ([ev("name", Verdict.MATCH, Weight.NAME), *FITS], IdentityState.VERIFIED),
        ([ev("name", Verdict.MATCH, Weight.NAME), FITS[0]], IdentityState.UNKNOWN),  # shapes not seen
        (
            [ev("name", Verdict.MATCH, Weight.NAME), ev("version", Verdict.DIFFER, Weight.NAME), *FITS],
            IdentityState.MISMATCH,
        ),
        (
            [
                ev("name", Verdict.MATCH, Weight.NAME),
                FITS[0],
                ev("tensor shapes", Verdict.DIFFER, Weight.SUPPORTING),
            ],
            IdentityState.MISMATCH,
        ),
        (FITS, IdentityState.UNKNOWN),  # shapes alone never name a base
        ([], IdentityState.UNKNOWN),
    ],
)
def test_judge(evidence: list[Evidence], state: IdentityState) -> None:
    assert judge(evidence)[0] is state


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "alice\nbob"])
def test_who_vouched_is_a_short_name(name: str) -> None:
    with pytest.raises(ValidationError, match="--by"):
        check_trusted_by(name)
    assert check_trusted_by("  alice ") == "alice"


def test_word_given_for_one_base_does_not_carry_to_another(tmp_path: Path) -> None:
    base = converted_base(tmp_path)
    path = converted_adapter(tmp_path, None)
    record = {"by": "alice", "at": "2026-03-10T12:00:00+00:00", "base": base.name}
    path.with_suffix(".json").write_text(
        json.dumps({"base_fingerprint": fingerprint_of(base), "base_trusted": record})
    )
    # same shapes, another tokenizer: only the recorded fingerprint tells them apart
    other = write_base(
        tmp_path / "o" / "other.gguf",
        n_embd=N_EMBD,
        n_vocab=N_VOCAB,
        tokens=[f"q{i}" for i in range(N_VOCAB)],
    )
    check = identity_check_failed(validate_adapter(path, other))
    assert isinstance(check.error, AdapterMismatchError)
    assert f"it was vouched for on {base.name}" in check.detail and "on the word of alice" in check.detail
    assert check.error.found == fingerprint_of(base) and check.error.expected == fingerprint_of(other)
