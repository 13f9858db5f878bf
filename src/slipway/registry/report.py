"""A validation report: every check, passed, failed or skipped, with its timing, for the checklist.

Validation does not stop at the first problem it can work around: an
adapter with the wrong architecture *and* the wrong base shows both. A
warned check is one that could not decide (an adapter that records nothing
about its base): `ok` still holds, so `slipway adapters validate` can pass
it, but `raise_for_failure` refuses it unless asked not to, because add,
deploy and the checklist want the base settled. Checks that depend on one
that failed (nothing can be said about tensor shapes of a file that does not
parse) are skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from slipway.core.errors import FileCheckError
from slipway.registry.identity import BaseIdentity

#: Every check, in the order it runs, with what it verifies.
CHECKS: Mapping[str, str] = {
    "header": "GGUF magic bytes and a supported version",
    "intact": "metadata parses and no tensor data is missing (not corrupt, not truncated)",
    "general-type": "general.type is 'adapter'",
    "adapter-type": "adapter.type is 'lora'",
    "base-file": "the base is a readable GGUF model",
    "architecture": "general.architecture equals the base's",
    "tensor-shapes": "every LoRA pair fits the base tensor it targets",
    "base-identity": "the base the adapter records (fingerprint or base model name) is this base",
    "peft-config": "adapter_config.json is a readable JSON object of bounded size",
    "peft-type": "peft_type is LORA (the only kind vLLM loads as a LoRA adapter)",
    "lora-config": "r, lora_alpha, target_modules and rank_pattern are valid; no DoRA, no trained bias",
    "safetensors-intact": "adapter_model.safetensors: bounded header, every tensor inside the file, "
    "sized dtype x shape, no overlaps (not truncated)",
    "dtype": "every tensor is F32, F16 or BF16",
    "base-config": "the base is a Hugging Face model directory whose config.json gives the sizes needed",
    "target-modules": "every target module exists in the base's architecture",
    "lora-shapes": "every lora_A/lora_B fits the base module and the rank; layer indices within the base",
    "max-rank": "the rank is within the engine's max LoRA rank (vLLM's --max-lora-rank)",
    "loadable": "the engine (llama-server, or vLLM for PEFT) loads base + adapter and answers one prompt",
}

#: The file checks of a GGUF adapter and of a PEFT directory, each in the order it runs.
GGUF_CHECKS: tuple[str, ...] = (
    "header",
    "intact",
    "general-type",
    "adapter-type",
    "base-file",
    "architecture",
    "tensor-shapes",
    "base-identity",
)
PEFT_CHECKS: tuple[str, ...] = (
    "peft-config",
    "peft-type",
    "lora-config",
    "safetensors-intact",
    "dtype",
    "base-config",
    "max-rank",
    "target-modules",
    "lora-shapes",
    "base-identity",
)


class CheckStatus(StrEnum):
    PASSED = "pass"
    FAILED = "fail"
    SKIPPED = "skip"
    #: Could not decide; not a failure, but add, deploy and the checklist refuse it.
    WARNED = "warn"

    @property
    def is_failure(self) -> bool:
        return self is CheckStatus.FAILED


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: CheckStatus
    #: what was found (pass), the error's message (fail) or why it did not run (skip).
    detail: str
    seconds: float = 0.0
    error: FileCheckError | None = None
    #: For `base-identity`: the state and the evidence behind it.
    identity: BaseIdentity | None = None

    @property
    def description(self) -> str:
        return CHECKS.get(self.name, self.name)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "check": self.name,
            "description": self.description,
            "status": str(self.status),
            "detail": self.detail,
            "seconds": round(self.seconds, 6),
        }
        if self.error is not None:
            body["error"] = self.error.to_dict()
        if self.identity is not None:
            body["identity"] = self.identity.to_dict()
        return body


@dataclass(frozen=True)
class ValidationReport:
    adapter: Path
    base: Path | None
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """No check failed (skipped ones, such as `loadable` without an engine, do not count)."""
        return not any(c.status.is_failure for c in self.checks)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status.is_failure)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status is CheckStatus.WARNED)

    @property
    def settled(self) -> bool:
        """No check failed and none that refuses was left undecided (an unknown base): what add, deploy
        and the checklist require. A warning without an error is a check slipway could not make here
        (a base architecture it does not know): the engine makes it when it loads the adapter, and
        `validate --strict` refuses it."""
        return self.ok and not any(c.error is not None for c in self.warnings)

    @property
    def identity(self) -> BaseIdentity | None:
        check = self.get("base-identity")
        return check.identity if check is not None else None

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.checks)

    def get(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def raise_for_failure(self, *, allow_warnings: bool = False) -> None:
        """Raise the first failed check's error, then the first warned one's (what `add` and deploy use)."""
        refused = self.failures if allow_warnings else (*self.failures, *self.warnings)
        for check in refused:
            if check.error is not None:
                raise check.error

    def with_check(self, result: CheckResult) -> ValidationReport:
        """A copy with `result` replacing the check of the same name, or appended."""
        if any(c.name == result.name for c in self.checks):
            checks = tuple(result if c.name == result.name else c for c in self.checks)
        else:
            checks = (*self.checks, result)
        return replace(self, checks=checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "adapter": str(self.adapter),
            "base": str(self.base) if self.base is not None else None,
            "ok": self.ok,
            "warnings": len(self.warnings),
            "settled": self.settled,
            "seconds": round(self.seconds, 6),
            "checks": [c.to_dict() for c in self.checks],
        }
