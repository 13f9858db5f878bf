"""Was this PEFT adapter trained on this base? Verified, mismatch, or unknown — never a silent guess.

Shapes prove little: every fine-tune of a model has the same shapes, and a
base with a rebuilt tokenizer loads the adapter and answers nonsense. Two
facts can settle it:

* a recorded fingerprint (`hf_base.hf_fingerprint`), in the registry's
  sidecar or written by the training tool into adapter_config.json as
  `slipway_base_fingerprint`: equal is *verified*, different is *mismatch*;
* the name PEFT records, `base_model_name_or_path`: it can only rule a
  base out (a different model name), never in (a name says nothing about
  which revision or tokenizer). With no fingerprint, a name that fits is
  *unknown*, said with how to record the fingerprint.

Kept apart from the check runner so the deploy rule ("verified, or trusted
by the operator") can ask the same question of PEFT and GGUF adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from slipway.core.errors import AdapterMismatchError
from slipway.registry.hf_base import HFBase

CHECK = "base-identity"


class Identity(StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class BaseIdentity:
    state: Identity
    detail: str
    #: for MISMATCH, the failure; for UNKNOWN, what could not be checked and how to record it.
    error: AdapterMismatchError | None = None


def peft_base_identity(
    adapter: str,
    declared_name: str | None,
    recorded_fingerprint: str | None,
    recorded_where: str,
    base: HFBase,
) -> BaseIdentity:
    """Compare what the adapter says of its base with `base`; the fingerprint, when recorded, decides."""
    expected = base.fingerprint
    if recorded_fingerprint:
        if recorded_fingerprint == expected:
            return BaseIdentity(
                Identity.VERIFIED, f"fingerprint {expected[:16]}… ({recorded_where}) = base's"
            )
        return BaseIdentity(
            Identity.MISMATCH,
            "recorded fingerprint differs",
            AdapterMismatchError(
                f"the adapter was trained on another base than {base.path.name} (fingerprint from the "
                f"{recorded_where}); vLLM would load it and answer nonsense",
                path=adapter,
                check=CHECK,
                found=recorded_fingerprint,
                expected=expected,
                hint="Serve it on the base it was trained on, or retrain it on this one.",
            ),
        )
    names = _base_names(base)
    if declared_name and _last(declared_name) not in names:
        return BaseIdentity(
            Identity.MISMATCH,
            "declared base name differs",
            AdapterMismatchError(
                f"the adapter says it was trained on {declared_name!r}, not on {base.path.name}",
                path=adapter,
                check=CHECK,
                found=f"base_model_name_or_path = {declared_name!r}",
                expected=f"a name ending in one of: {', '.join(sorted(names))}",
                hint="Validate it against the base it names. If this base is that model under another "
                "name, vouch for it with `slipway adapters add DIR --model NAME --trust-base`, which "
                "records this base's fingerprint.",
            ),
        )
    said = f"names {declared_name!r}" if declared_name else "names no base (base_model_name_or_path)"
    record = (
        f'`slipway adapters add DIR --model NAME --trust-base`, or "base_fingerprint": "{expected}" in '
        "its sidecar, or slipway_base_fingerprint in adapter_config.json"
    )
    return BaseIdentity(
        Identity.UNKNOWN,
        f"not verified: the adapter {said} and records no base fingerprint",
        AdapterMismatchError(
            f"the adapter {said} and records no base fingerprint, so a base with another tokenizer "
            "or revision cannot be ruled out",
            path=adapter,
            check=CHECK,
            found="no recorded base fingerprint",
            expected=expected,
            hint=f"If you know it was trained on {base.path.name}, record that: {record}.",
        ),
    )


def _base_names(base: HFBase) -> set[str]:
    names = {base.path.name, base.path.resolve().name}
    if base.name_or_path:
        names.add(_last(base.name_or_path))
    return {n for n in names if n}


def _last(name: str) -> str:
    """`meta-llama/Llama-3.1-8B` and `/data/models/Llama-3.1-8B/` both name `Llama-3.1-8B`."""
    return PurePosixPath(name.rstrip("/")).name
