"""What an adapter version says about itself: GGUF keys and a sidecar JSON (date, examples, base).

Training tools write `slipway.*` keys into the adapter (the tiny model's
builder does): `slipway.base_fingerprint`, `slipway.version`,
`slipway.created`, `slipway.training.examples`,
`slipway.training.data_sha256`, optionally `slipway.training.data_bytes`,
`slipway.notes` and `slipway.eval.<metric>` numbers. Adapters converted by
other tools carry none of them, and evaluation results or notes arrive
after training, so a sidecar `<stem>.json` next to the file (for
`v2.1-2026-01-15-1247examples.gguf`: `v2.1-2026-01-15-1247examples.json`)
holds the same facts plus what `slipway adapters add` records (sha256, when
and from where it was added).

Facts baked into the GGUF win over the sidecar (the sidecar is editable;
the weights' own record is not); each value remembers where it came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.core.errors import ValidationError
from slipway.registry.fingerprint import FINGERPRINT_KEY
from slipway.registry.reader import GGUFFile

SIDECAR_SUFFIX = ".json"

#: GGUF key -> metadata attribute.
GGUF_KEYS: Mapping[str, str] = {
    FINGERPRINT_KEY: "base_fingerprint",
    "slipway.version": "version",
    "slipway.created": "created",
    "slipway.training.examples": "training_examples",
    "slipway.training.data_sha256": "training_data_sha256",
    "slipway.training.data_bytes": "training_data_bytes",
    "slipway.notes": "notes",
    "general.name": "name",
    "general.description": "description",
}
EVAL_PREFIX = "slipway.eval."

#: Sidecar JSON key -> metadata attribute ("training" is a nested object).
SIDECAR_KEYS: Mapping[str, str] = {
    "base_fingerprint": "base_fingerprint",
    "version": "version",
    "created": "created",
    "notes": "notes",
    "name": "name",
    "description": "description",
    "sha256": "sha256",
    "added_at": "added_at",
    "source": "source",
}
SIDECAR_TRAINING_KEYS: Mapping[str, str] = {
    "examples": "training_examples",
    "data_sha256": "training_data_sha256",
    "data_bytes": "training_data_bytes",
}


@dataclass(frozen=True)
class AdapterMetadata:
    base_fingerprint: str | None = None
    version: str | None = None
    created: str | None = None
    training_examples: int | None = None
    training_data_sha256: str | None = None
    training_data_bytes: int | None = None
    notes: str | None = None
    name: str | None = None
    description: str | None = None
    eval: Mapping[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    added_at: str | None = None
    source: str | None = None
    lora_alpha: float | None = None
    lora_rank: int | None = None
    targets: tuple[str, ...] = ()
    #: attribute -> "gguf" or "sidecar".
    sources: Mapping[str, str] = field(default_factory=dict)
    #: attribute -> (gguf value, sidecar value) where the two disagree.
    conflicts: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_fingerprint": self.base_fingerprint,
            "version": self.version,
            "created": self.created,
            "training": {
                "examples": self.training_examples,
                "data_sha256": self.training_data_sha256,
                "data_bytes": self.training_data_bytes,
            },
            "eval": dict(self.eval),
            "notes": self.notes,
            "name": self.name,
            "description": self.description,
            "sha256": self.sha256,
            "added_at": self.added_at,
            "source": self.source,
            "lora": {"alpha": self.lora_alpha, "rank": self.lora_rank, "targets": list(self.targets)},
            "sources": dict(self.sources),
            "conflicts": {k: list(v) for k, v in self.conflicts.items()},
        }


def sidecar_path(adapter: Path) -> Path:
    """`v2.1-...examples.gguf` -> `v2.1-...examples.json`; a PEFT directory `v2.1-...examples/` too."""
    if adapter.is_dir():
        # A directory's name has no suffix to replace ("v2.1-..." would lose everything after "v2").
        return adapter.with_name(adapter.name + SIDECAR_SUFFIX)
    return adapter.with_suffix(SIDECAR_SUFFIX)


def read_sidecar(adapter: Path) -> dict[str, Any]:
    """The sidecar's JSON object, {} when there is none; ValidationError if it is not valid JSON."""
    path = sidecar_path(adapter)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValidationError(
            f"{path}: the sidecar metadata file cannot be read: {exc.strerror or exc}",
            hint="Fix its permissions or remove it.",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{path}: the sidecar metadata file is not valid JSON (line {exc.lineno}: {exc.msg})",
            hint='Fix the JSON; it must be one object such as {"notes": "...", "eval": {"accuracy": 0.97}}.',
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(
            f"{path}: the sidecar metadata file must hold a JSON object, not {type(data).__name__}",
            hint='Write it as {"notes": "...", "eval": {...}}.',
        )
    return data


def adapter_metadata(gguf_file: GGUFFile | None, sidecar: Mapping[str, Any]) -> AdapterMetadata:
    """Merge the GGUF's keys and the sidecar's; the GGUF wins where both say something."""
    from_gguf: dict[str, Any] = {}
    evals: dict[str, Any] = {}
    if gguf_file is not None:
        for key, attr in GGUF_KEYS.items():
            value = gguf_file.fields.get(key)
            if value is not None and value != "":
                from_gguf[attr] = value
        for key, value in gguf_file.fields.items():
            if key.startswith(EVAL_PREFIX):
                evals[key.removeprefix(EVAL_PREFIX)] = value
    from_sidecar: dict[str, Any] = {}
    for key, attr in SIDECAR_KEYS.items():
        if sidecar.get(key) is not None:
            from_sidecar[attr] = sidecar[key]
    training = sidecar.get("training")
    if isinstance(training, Mapping):
        for key, attr in SIDECAR_TRAINING_KEYS.items():
            if training.get(key) is not None:
                from_sidecar[attr] = training[key]
    sidecar_eval = sidecar.get("eval")
    if isinstance(sidecar_eval, Mapping):
        evals = {**sidecar_eval, **evals}

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    conflicts: dict[str, tuple[Any, Any]] = {}
    for attr in {*from_gguf, *from_sidecar}:
        if attr in from_gguf:
            merged[attr], sources[attr] = from_gguf[attr], "gguf"
            if attr in from_sidecar and from_sidecar[attr] != from_gguf[attr]:
                conflicts[attr] = (from_gguf[attr], from_sidecar[attr])
        else:
            merged[attr], sources[attr] = from_sidecar[attr], "sidecar"
    for attr in ("training_examples", "training_data_bytes"):
        if attr in merged:
            merged[attr] = _as_int(merged[attr])
    for attr in ("base_fingerprint", "version", "created", "training_data_sha256", "notes"):
        if attr in merged and merged[attr] is not None:
            merged[attr] = str(merged[attr])

    alpha = rank = None
    targets: tuple[str, ...] = ()
    if gguf_file is not None:
        alpha_value = gguf_file.number("adapter.lora.alpha")
        alpha = float(alpha_value) if alpha_value is not None else None
        pairs = sorted(n.removesuffix(".lora_a") for n in gguf_file.tensors if n.endswith(".lora_a"))
        targets = tuple(pairs)
        if pairs:
            # lora_a in GGUF order is (n_in, r): ne[1] is the rank (token_embd: ne[0]).
            first = gguf_file.tensors[pairs[0] + ".lora_a"]
            rank = first.ne[0] if pairs[0].endswith("token_embd.weight") else first.ne[-1]
    return AdapterMetadata(
        **merged,
        eval=evals,
        lora_alpha=alpha,
        lora_rank=rank,
        targets=targets,
        sources=sources,
        conflicts=conflicts,
    )


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
