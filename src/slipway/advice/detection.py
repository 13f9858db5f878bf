"""What changed between two adapter versions, read from what each recorded about itself.

The CLI reduces the registry's metadata to `VersionFacts`, so the rules here
stay testable with tables and never open a file. Flags given to `slipway plan`
win over a detection; the caveats say when to give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipway.advice.situation import Change

#: Training examples may shrink a little (deduplication) or at most double and still count as the
#: "incrementally updated data" of a routine retrain; outside this the data changed significantly.
INCREMENTAL_RATIO = (0.9, 2.0)


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What an adapter version records about itself (the registry's metadata, reduced)."""

    version: str
    base_fingerprint: str | None = None
    #: The base the file names when it has no fingerprint (a converter's general.base_model.*), as one
    #: canonical string (repository, else organization/name), so two versions' can be compared.
    base_recorded: str | None = None
    training_examples: int | None = None
    training_data_sha256: str | None = None
    #: A training method recorded with the version (e.g. the sidecar's training.method).
    method: str | None = None
    lora_rank: int | None = None
    lora_alpha: float | None = None
    targets: tuple[str, ...] = ()
    #: The adapter file's own hash.
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    change: Change
    #: The facts that decided it.
    why: tuple[str, ...]
    #: What could not be checked, so the operator knows when to pass --change.
    caveats: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change.value, "why": list(self.why), "caveats": list(self.caveats)}


def detect_change(previous: VersionFacts | None, current: VersionFacts) -> Detection:
    """The biggest change between two versions wins: base, then identity, method, data."""
    if previous is None:
        return Detection(
            Change.FIRST_FINETUNE,
            (
                f"{current.version} is the first adapter version of this model: it replaces whatever "
                "serves today (a prompt-engineered baseline)",
            ),
        )
    prev, cur = previous, current
    caveats: list[str] = []
    same_base = ""
    if prev.base_fingerprint and cur.base_fingerprint:
        if prev.base_fingerprint != cur.base_fingerprint:
            return Detection(
                Change.BASE_UPGRADE,
                (
                    f"base fingerprint {_fp(prev.base_fingerprint)} ({prev.version}) → "
                    f"{_fp(cur.base_fingerprint)} ({cur.version}): trained for another base model",
                ),
            )
        same_base = f"same base ({_fp(cur.base_fingerprint)})"
    elif prev.base_recorded and cur.base_recorded:
        # Adapters converted by other tools: the base each names is the next best evidence.
        if prev.base_recorded != cur.base_recorded:
            return Detection(
                Change.BASE_UPGRADE,
                (
                    f"recorded base {prev.base_recorded} ({prev.version}) → {cur.base_recorded} "
                    f"({cur.version}): trained for another base model",
                ),
            )
        same_base = f"same recorded base ({cur.base_recorded})"
    else:
        unknown = [v.version for v in (prev, cur) if not v.base_fingerprint and not v.base_recorded]
        if unknown:
            caveats.append(
                f"no base fingerprint recorded for {', '.join(unknown)}: a base upgrade is not ruled out"
            )
        else:
            caveats.append(
                f"{prev.version} and {cur.version} record their base in different ways (a fingerprint, "
                "a base model name): a base upgrade is not ruled out"
            )
    if prev.sha256 and prev.sha256 == cur.sha256:
        return Detection(
            Change.CONFIG_ONLY,
            (f"{prev.version} and {cur.version} are the same file (sha256 {prev.sha256[:12]}…)",),
            tuple(caveats),
        )
    method = _method_changes(prev, cur)
    if method:
        return Detection(Change.NEW_DATA, (*method, *_keep(same_base)), tuple(caveats))
    return _data_change(prev, cur, same_base, caveats)


def _data_change(prev: VersionFacts, cur: VersionFacts, same_base: str, caveats: list[str]) -> Detection:
    n0, n1 = prev.training_examples, cur.training_examples
    hashes = prev.training_data_sha256 and cur.training_data_sha256
    if n0 is None or n1 is None or n0 <= 0:
        return Detection(
            Change.NEW_DATA,
            (
                f"training examples not recorded for {prev.version if n0 is None else cur.version}: "
                "nothing shows the data was only incrementally updated, so the cautious reading",
                *_keep(same_base),
            ),
            tuple(caveats),
        )
    ratio = n1 / n0
    counts = f"training examples {n0:,} → {n1:,} ({(ratio - 1) * 100:+.0f} %)"
    if hashes and prev.training_data_sha256 == cur.training_data_sha256 and n0 == n1:
        data = (
            f"same training data (sha256 {str(cur.training_data_sha256)[:12]}…): a re-run on unchanged data"
        )
        return Detection(Change.ADAPTER_RETRAIN, (data, *_keep(same_base)), tuple(caveats))
    low, high = INCREMENTAL_RATIO
    if ratio > high:
        why = f"{counts}: more than doubled, not an incremental update"
        return Detection(Change.NEW_DATA, (why, *_keep(same_base)), tuple(caveats))
    if ratio < low:
        why = f"{counts}: data was removed or replaced, not an incremental update"
        return Detection(Change.NEW_DATA, (why, *_keep(same_base)), tuple(caveats))
    data_hash = "training data hash changed" if hashes else "no training data hash to compare"
    why = f"{counts}, {data_hash}: incrementally updated data"
    return Detection(Change.ADAPTER_RETRAIN, (why, "same LoRA shape", *_keep(same_base)), tuple(caveats))


def _method_changes(prev: VersionFacts, cur: VersionFacts) -> list[str]:
    out = []
    if prev.method and cur.method and prev.method != cur.method:
        out.append(f"training method {prev.method} → {cur.method}")
    if prev.lora_rank and cur.lora_rank and prev.lora_rank != cur.lora_rank:
        out.append(f"LoRA rank {prev.lora_rank} → {cur.lora_rank}")
    if prev.lora_alpha and cur.lora_alpha and prev.lora_alpha != cur.lora_alpha:
        out.append(f"LoRA alpha {prev.lora_alpha:g} → {cur.lora_alpha:g}")
    if prev.targets and cur.targets and set(prev.targets) != set(cur.targets):
        added = sorted(set(cur.targets) - set(prev.targets))
        dropped = sorted(set(prev.targets) - set(cur.targets))
        parts = [f"+{len(added)}" if added else "", f"-{len(dropped)}" if dropped else ""]
        out.append(f"LoRA target tensors changed ({' '.join(p for p in parts if p)})")
    return [f"{text}: the training method changed" for text in out]


def _fp(fingerprint: str | None) -> str:
    return f"{fingerprint[:12]}…" if fingerprint else "unknown"


def _keep(text: str) -> tuple[str, ...]:
    return (text,) if text else ()
