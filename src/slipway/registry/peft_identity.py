"""The evidence a PEFT adapter carries about its base, compared with a Hugging Face base directory.

Shapes prove little on their own: every fine-tune of a model has the same
shapes, and a base with a rebuilt tokenizer loads the adapter and answers
nonsense. What a PEFT directory can say, in order of strength:

* a recorded fingerprint (`hf_base.hf_fingerprint`), in the registry's
  sidecar (perhaps on an operator's word) or written by the training tool
  into adapter_config.json as `slipway_base_fingerprint`: settles it;
* the name PEFT records, `base_model_name_or_path` (a hub id or a path on
  the training machine), against the base directory's name and its
  config's `_name_or_path`, compared by their last part;
* whether the target modules exist in the base's architecture and every
  weight fits its sizes, which back a name up but cannot name a base.

`identity.judge` turns the evidence into verified, mismatch or unknown,
exactly as for GGUF adapters, so one deploy rule serves both.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from slipway.registry.hf_base import HFBase
from slipway.registry.identity import (
    BaseIdentity,
    Evidence,
    IdentityState,
    Trust,
    Verdict,
    Weight,
    judge,
    names_agree,
)

CHECK = "base-identity"


def peft_base_identity(
    *,
    declared_name: str | None,
    recorded_fingerprint: str | None,
    recorded_where: str,
    base: HFBase,
    modules: Verdict,
    shapes: Verdict,
    trust: Trust | None = None,
) -> BaseIdentity:
    """The three-state identity of a PEFT adapter on `base`, with the evidence that decided it."""
    expected = base.fingerprint
    evidence: list[Evidence] = []
    if recorded_fingerprint:
        verdict = Verdict.MATCH if recorded_fingerprint == expected else Verdict.DIFFER
        evidence.append(
            Evidence(
                "fingerprint",
                verdict,
                Weight.STRONG,
                f"adapter ({recorded_where}): {recorded_fingerprint[:16]}…; base: {expected[:16]}…",
            )
        )
    names = _base_names(base)
    if declared_name:
        verdict = Verdict.MATCH if names_agree(_last(declared_name), names) else Verdict.DIFFER
        evidence.append(
            Evidence(
                "base model name",
                verdict,
                Weight.NAME,
                f"adapter: {declared_name!r}; base: {', '.join(sorted(names))}",
            )
        )
    evidence.append(
        Evidence("architecture", modules, Weight.SUPPORTING, "target modules of " + base.model_type)
    )
    evidence.append(
        Evidence("tensor shapes", shapes, Weight.SUPPORTING, f"LoRA weights against {base.path.name}")
    )
    state, deciding = judge(evidence)
    record = (
        f'`slipway adapters add DIR --model NAME --trust-base`, or "base_fingerprint": "{expected}" in '
        "its sidecar, or slipway_base_fingerprint in adapter_config.json"
    )
    if state is IdentityState.VERIFIED:
        said = "; ".join(
            f"{e.subject} matches" + (f" ({recorded_where})" if e.subject == "fingerprint" else "")
            for e in deciding
        )
        by = f", {trust.words()}" if trust is not None and recorded_where == "sidecar" else ""
        return BaseIdentity(state, f"verified: {said}{by}", tuple(evidence), trust=trust)
    if state is IdentityState.MISMATCH:
        differ = [e for e in deciding if e.verdict is Verdict.DIFFER]
        by_fingerprint = any(e.subject == "fingerprint" for e in differ) and recorded_fingerprint
        return BaseIdentity(
            state,
            f"the adapter was trained for another base than {base.path.name} "
            f"({', '.join(e.subject for e in differ)} differs); vLLM would load it and answer nonsense",
            tuple(evidence),
            hint="Serve it on the base it was trained for, or retrain it on this one. If this base is that "
            f"model under another name, record it: {record}.",
            found=recorded_fingerprint if by_fingerprint else "; ".join(e.detail for e in differ),
            expected=expected if by_fingerprint else f"{base.path.name} (fingerprint {expected[:16]}…)",
        )
    said = f"names {declared_name!r}" if declared_name else "names no base (base_model_name_or_path)"
    return BaseIdentity(
        state,
        f"unknown: the adapter {said} and records no base fingerprint, so a base with another tokenizer "
        "or revision cannot be ruled out",
        tuple(evidence),
        hint=f"If you know it was trained on {base.path.name}, record that: {record}.",
    )


def _base_names(base: HFBase) -> set[str]:
    names = {base.path.name, base.path.resolve().name}
    if base.name_or_path:
        names.add(_last(base.name_or_path))
    return {n for n in names if n}


def _last(name: str) -> str:
    """`meta-llama/Llama-3.1-8B` and `/data/models/Llama-3.1-8B/` both name `Llama-3.1-8B`."""
    return PurePosixPath(name.rstrip("/")).name
