"""What the registry holds on disk, as read: models, their bases and their adapter versions.

A model is a directory with `base/` (GGUF files, or Hugging Face base
directories) and `adapters/` (GGUF files or PEFT directories, each with an
optional JSON sidecar). Reading never writes; a name that does not parse is
listed with its error rather than hidden (see `catalog` for adding).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from slipway.core.errors import (
    AdapterNameError,
    GGUFError,
    NotFoundError,
    ValidationError,
)
from slipway.registry.hf_base import CONFIG_NAME as HF_CONFIG_NAME
from slipway.registry.hf_base import HFBase, open_hf_base
from slipway.registry.identity import (
    BaseIdentity,
)
from slipway.registry.metadata import AdapterMetadata, adapter_metadata, read_sidecar, sidecar_path
from slipway.registry.naming import (
    AdapterName,
    parse_adapter_dir_name,
    parse_adapter_name,
)
from slipway.registry.peft_config import read_peft_config
from slipway.registry.peft_validate import validate_peft_adapter
from slipway.registry.reader import open_gguf
from slipway.registry.storage import (
    dir_sha256,
    disk_usage,
    file_sha256,
)
from slipway.registry.validate import BaseModel, base_identity, open_base

#: A GGUF file (llama-server) or a PEFT directory with a Hugging Face base (vLLM).
Kind = Literal["gguf", "peft"]

MODELS_DIR_ENV = "SLIPWAY_MODELS_DIR"
DEFAULT_MODELS_DIR = Path("models")
BASE_DIR = "base"
ADAPTERS_DIR = "adapters"
GGUF_SUFFIX = ".gguf"
GGUF: Kind = "gguf"
PEFT: Kind = "peft"


def default_models_dir() -> Path:
    """$SLIPWAY_MODELS_DIR, else ./models."""
    return Path(os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


@dataclass(frozen=True)
class BaseEntry:
    path: Path
    size: int
    disk: int
    kind: Kind = "gguf"


@dataclass(frozen=True)
class AdapterEntry:
    path: Path
    size: int
    #: the GGUF plus its sidecar, if any.
    disk: int
    name: AdapterName | None
    name_error: AdapterNameError | None = None
    kind: Kind = "gguf"

    @property
    def version(self) -> str:
        if self.name is not None:
            return self.name.version
        return self.path.name if self.kind == PEFT else self.path.stem

    @property
    def sidecar(self) -> Path | None:
        path = sidecar_path(self.path)
        return path if path.is_file() else None

    def metadata(self) -> AdapterMetadata:
        """GGUF keys (or a PEFT config's LoRA fields) and sidecar merged; ValidationError if damaged."""
        if self.kind == PEFT:
            return peft_metadata(self.path, read_sidecar(self.path))
        return adapter_metadata(open_gguf(self.path), read_sidecar(self.path))

    def content_sha256(self) -> str:
        """The file's sha256; for a directory, one digest of its files' names and contents."""
        return dir_sha256(self.path) if self.kind == PEFT else file_sha256(self.path)


def peft_metadata(directory: Path, sidecar: Mapping[str, Any]) -> AdapterMetadata:
    """The sidecar's facts plus rank, alpha and targets from adapter_config.json."""
    config = read_peft_config(directory)
    meta = adapter_metadata(None, sidecar)
    if not meta.base_fingerprint and config.base_fingerprint:
        sources = {**meta.sources, "base_fingerprint": "adapter_config.json"}
        meta = replace(meta, base_fingerprint=config.base_fingerprint, sources=sources)
    return replace(
        meta,
        lora_alpha=config.lora_alpha,
        lora_rank=config.max_rank,
        targets=config.target_modules or ((config.target_regex,) if config.target_regex else ()),
        description=meta.description or _trained_on(config.base_model_name_or_path),
    )


@dataclass
class ModelEntry:
    name: str
    root: Path
    bases: tuple[BaseEntry, ...]
    adapters: tuple[AdapterEntry, ...]
    _opened: dict[Path, BaseModel | HFBase | GGUFError | ValidationError] = field(
        default_factory=dict, repr=False
    )

    @property
    def size(self) -> int:
        return sum(b.size for b in self.bases) + sum(a.size for a in self.adapters)

    @property
    def disk(self) -> int:
        return sum(b.disk for b in self.bases) + sum(a.disk for a in self.adapters)

    def adapter(self, version: str) -> AdapterEntry:
        for entry in self.adapters:
            if entry.version == version or entry.path.name == version:
                return entry
        known = ", ".join(a.version for a in self.adapters) or "none yet"
        raise NotFoundError(
            f"model {self.name!r} has no adapter version {version!r} (versions: {known})",
            hint=f"`slipway adapters list` shows every version; files live in {self.root / ADAPTERS_DIR}.",
        )

    def base(self, choice: str | Path | None = None, kind: Kind = GGUF) -> BaseEntry:
        """The base of `kind` named `choice` (file/directory name or path), or the only one of that kind."""
        bases = [b for b in self.bases if b.kind == kind]
        what = "GGUF file" if kind == GGUF else "Hugging Face directory (config.json, tokenizer files)"
        if choice is not None:
            wanted = Path(choice)
            for entry in bases:
                if entry.path.name == wanted.name or entry.path == wanted:
                    return entry
            raise NotFoundError(
                f"model {self.name!r} has no base {str(choice)!r} that is a {what} "
                f"(bases: {', '.join(b.path.name for b in self.bases) or 'none'})",
                hint=f"Bases live in {self.root / BASE_DIR}.",
            )
        if len(bases) == 1:
            return bases[0]
        if not bases:
            raise NotFoundError(
                f"model {self.name!r} has no base model ({what}) in {self.root / BASE_DIR}",
                hint=f"Put the base {what} in {self.root / BASE_DIR}/ first; adapters are checked "
                "against it.",
            )
        raise NotFoundError(
            f"model {self.name!r} has {len(bases)} bases "
            f"({', '.join(b.path.name for b in bases)}); say which one",
            hint="Pass --base NAME (the base the adapter will be deployed on).",
        )

    def open_base(self, entry: BaseEntry) -> BaseModel:
        """Opened once per listing; GGUFError/ValidationError if the base is unusable."""
        opened = self._open(entry)
        if isinstance(opened, BaseModel):
            return opened
        raise ValidationError(f"{entry.path} is a Hugging Face directory, not a GGUF base")

    def open_hf_base(self, entry: BaseEntry) -> HFBase:
        """Opened once per listing; ValidationError (check `base-config`) if the base is unusable."""
        opened = self._open(entry)
        if isinstance(opened, HFBase):
            return opened
        raise ValidationError(f"{entry.path} is a GGUF file, not a Hugging Face base directory")

    def _open(self, entry: BaseEntry) -> BaseModel | HFBase:
        opened = self._opened.get(entry.path)
        if opened is None:
            try:
                opened = open_hf_base(entry.path) if entry.kind == PEFT else open_base(entry.path)
            except (GGUFError, ValidationError) as exc:
                opened = exc
            self._opened[entry.path] = opened
        if isinstance(opened, BaseModel | HFBase):
            return opened
        raise opened

    def base_fingerprints(self) -> dict[Path, str | None]:
        """Each base's fingerprint; None for a base that cannot be read."""
        out: dict[Path, str | None] = {}
        for entry in self.bases:
            try:
                out[entry.path] = self._open(entry).fingerprint
            except (GGUFError, ValidationError):
                out[entry.path] = None
        return out

    def matching_bases(self, metadata: AdapterMetadata) -> list[Path]:
        """The bases of this model the adapter's recorded fingerprint matches."""
        if not metadata.base_fingerprint:
            return []
        return [p for p, fp in self.base_fingerprints().items() if fp == metadata.base_fingerprint]

    def identities(self, adapter: AdapterEntry) -> dict[Path, BaseIdentity]:
        """The adapter's base identity against each readable base of this model.

        GGUFError for a damaged adapter, ValidationError for a malformed trust record in its sidecar.
        """
        if adapter.kind == PEFT:
            return self._peft_identities(adapter)
        opened = open_gguf(adapter.path)
        out: dict[Path, BaseIdentity] = {}
        for entry in self.bases:
            try:
                base = self.open_base(entry)
            except (GGUFError, ValidationError):
                continue
            out[entry.path] = base_identity(opened, base)
        return out

    def _peft_identities(self, adapter: AdapterEntry) -> dict[Path, BaseIdentity]:
        """A PEFT version against each readable Hugging Face base; AdapterInvalid if its config is damaged."""
        read_peft_config(adapter.path)
        out: dict[Path, BaseIdentity] = {}
        for entry in self.bases:
            if entry.kind != PEFT:
                continue
            try:
                base = self.open_hf_base(entry)
            except ValidationError:
                continue
            identity = validate_peft_adapter(adapter.path, base, max_lora_rank=None).identity
            if identity is not None:
                out[entry.path] = identity
        return out


def gguf_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix.lower() == GGUF_SUFFIX and not p.name.startswith(".") and p.is_file()
    )


def _trained_on(name: str | None) -> str | None:
    return f"trained on {name}" if name else None


def hf_dirs(directory: Path) -> list[Path]:
    """Base directories: the ones holding a Hugging Face config.json."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if not p.name.startswith(".") and (p / HF_CONFIG_NAME).is_file()
    )


def peft_dirs(directory: Path) -> list[Path]:
    """Adapter directories; hidden ones (a `.partial` copy under way or left by a crash) are not versions."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if not p.name.startswith(".") and p.is_dir())


def dir_sizes(directory: Path) -> tuple[int, int]:
    files = [p for p in directory.iterdir() if p.is_file()]
    return sum(p.stat().st_size for p in files), sum(disk_usage(p) for p in files)


def adapter_entry(path: Path) -> AdapterEntry:
    kind: Kind = PEFT if path.is_dir() else GGUF
    size, disk = dir_sizes(path) if kind == PEFT else (path.stat().st_size, disk_usage(path))
    side = sidecar_path(path)
    if side.is_file():
        disk += disk_usage(side)
    try:
        name = parse_adapter_dir_name(path.name) if kind == PEFT else parse_adapter_name(path.name)
        return AdapterEntry(path, size, disk, name, kind=kind)
    except AdapterNameError as exc:
        return AdapterEntry(path, size, disk, None, exc, kind=kind)


def adapter_order(entry: AdapterEntry) -> tuple[int, Any, str]:
    if entry.name is None:
        return (1, ((), ""), entry.path.name)
    return (0, entry.name.sort_key, entry.path.name)
