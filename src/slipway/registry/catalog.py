"""Models and adapter versions on disk: list them, and add new ones without ever losing one.

    models/
      <name>/
        base/*.gguf                      the base model(s) llama-server runs
        base/<dir>/config.json ...       a Hugging Face base directory (for PEFT adapters on vLLM)
        adapters/<version>-<date>-<N>examples.gguf
        adapters/<version>-<date>-<N>examples/       a PEFT adapter directory (adapter_config.json,
                                                     adapter_model.safetensors)
        adapters/<version>-<date>-<N>examples.json   optional sidecar (metadata.py)

A GGUF adapter is validated against a GGUF base, a PEFT directory against
a Hugging Face base directory (peft_validate.py). A directory is added
through `storage.copy_new_dir`: copied beside its final name, then renamed
into place, so it too appears whole or not at all.

Versions are never deleted or replaced: there is no delete, and `add`
refuses a version that exists and writes through `storage.copy_new`, which
cannot overwrite. Rolling back to any earlier version is therefore
always possible: its file is still here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from slipway.core.errors import (
    AdapterMismatchError,
    AdapterNameError,
    GGUFError,
    NotFoundError,
    ValidationError,
    VersionExistsError,
)
from slipway.registry.hf_base import CONFIG_NAME as HF_CONFIG_NAME
from slipway.registry.hf_base import HFBase, open_hf_base
from slipway.registry.identity import (
    TRUST_KEY,
    BaseIdentity,
    IdentityState,
    check_trusted_by,
    default_truster,
)
from slipway.registry.metadata import AdapterMetadata, adapter_metadata, read_sidecar, sidecar_path
from slipway.registry.naming import (
    AdapterName,
    format_adapter_name,
    parse_adapter_dir_name,
    parse_adapter_name,
    version_key,
)
from slipway.registry.peft_config import read_peft_config
from slipway.registry.peft_validate import DEFAULT_MAX_LORA_RANK, validate_peft_adapter
from slipway.registry.reader import open_gguf
from slipway.registry.report import ValidationReport
from slipway.registry.storage import (
    copy_new,
    copy_new_dir,
    dir_sha256,
    disk_usage,
    file_sha256,
    locked,
    write_json_atomic,
)
from slipway.registry.validate import BaseModel, base_identity, open_base, validate_adapter

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


@dataclass(frozen=True)
class AddPlan:
    """What `add` would do: checked, not yet written. `commit_add` carries it out."""

    source: Path
    model: str
    target: Path
    name: AdapterName
    base: Path
    report: ValidationReport
    sidecar: Mapping[str, Any]
    notes: tuple[str, ...] = ()
    kind: Kind = "gguf"

    @property
    def ok(self) -> bool:
        """Every check passed, the base identity included: an unknown base is not added."""
        return self.report.settled


class Catalog:
    """The registry root: `models/<name>/{base,adapters}/`."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_models_dir()

    # ------------------------------------------------------------------ reading

    def model_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir()
            and not p.name.startswith(".")
            and ((p / BASE_DIR).is_dir() or (p / ADAPTERS_DIR).is_dir())
        )

    def models(self) -> list[ModelEntry]:
        return [self.model(name) for name in self.model_names()]

    def model(self, name: str) -> ModelEntry:
        root = self.root / name
        if name not in self.model_names():
            known = ", ".join(self.model_names()) or "none"
            raise NotFoundError(
                f"no model {name!r} in {self.root} (models: {known})",
                hint=f"Create {root / BASE_DIR}/ with the base GGUF in it, or point --models-dir / "
                f"{MODELS_DIR_ENV} at the registry.",
            )
        bases = tuple(
            [BaseEntry(p, p.stat().st_size, disk_usage(p)) for p in _gguf_files(root / BASE_DIR)]
            + [BaseEntry(p, *_dir_sizes(p), kind=PEFT) for p in _hf_dirs(root / BASE_DIR)]
        )
        adapters = [_adapter_entry(p) for p in _gguf_files(root / ADAPTERS_DIR)]
        adapters += [_adapter_entry(p) for p in _peft_dirs(root / ADAPTERS_DIR)]
        adapters.sort(key=_adapter_order)
        return ModelEntry(name, root, bases, tuple(adapters))

    def disk(self) -> int:
        return sum(m.disk for m in self.models())

    # ------------------------------------------------------------------ adding

    def plan_add(
        self,
        source: str | os.PathLike[str],
        model: str,
        *,
        version: str | None = None,
        date: dt.date | None = None,
        examples: int | None = None,
        base: str | Path | None = None,
        trust_base: bool = False,
        trusted_by: str | None = None,
        notes: str | None = None,
        now: dt.datetime | None = None,
        max_lora_rank: int = DEFAULT_MAX_LORA_RANK,
    ) -> AddPlan:
        """Name the new version and validate it against the model's base; writes nothing.

        `trust_base`: the adapter's base is unknown (it records neither a
        fingerprint nor a base model identity) and the operator vouches that
        it was trained on this base; the base's fingerprint is recorded in the
        sidecar with who vouched (`trusted_by`, default the OS user) and when.
        It never overrides a recorded base that differs: a mismatch stays one.
        A directory is a PEFT adapter, validated against the model's Hugging
        Face base and `max_lora_rank`.
        """
        truster = ""
        if trust_base:
            truster = check_trusted_by(trusted_by if trusted_by is not None else default_truster())
        source = Path(source)
        if source.is_dir():
            return self._plan_add_peft(
                source,
                model,
                version=version,
                date=date,
                examples=examples,
                base=base,
                truster=truster,
                notes=notes,
                max_lora_rank=max_lora_rank,
                now=now,
            )
        entry = self.model(model)
        base_entry = entry.base(base)
        if not source.is_file():
            raise NotFoundError(f"{source}: no such file", hint="Check the path of the adapter to add.")
        name = _resolve_name(source, version=version, date=date, examples=examples)
        _refuse_existing(entry, name)
        base_model = entry.open_base(base_entry)

        sidecar: dict[str, Any] = {}
        with contextlib.suppress(ValidationError):
            sidecar.update(read_sidecar(source))
        remarks: list[str] = []
        with contextlib.suppress(GGUFError, ValidationError):
            meta = adapter_metadata(open_gguf(source), sidecar)
            if meta.version and meta.version != name.version:
                remarks.append(f"the adapter's own metadata says version {meta.version}")
        if notes:
            sidecar["notes"] = notes
        report = validate_adapter(source, base_model, sidecar=sidecar)
        identity = report.identity
        if trust_base and identity is not None:
            if identity.state is IdentityState.UNKNOWN:
                stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
                sidecar["base_fingerprint"] = base_model.fingerprint
                sidecar[TRUST_KEY] = {"by": truster, "at": stamp, "base": base_entry.path.name}
                remarks.append(
                    f"base {base_entry.path.name} recorded on the word of {truster} (--trust-base), {stamp}"
                )
                report = validate_adapter(source, base_model, sidecar=sidecar)
            elif identity.state is IdentityState.VERIFIED:
                remarks.append(f"--trust-base not needed, nothing recorded on your word: {identity.summary}")
        target = entry.root / ADAPTERS_DIR / name.file_name
        return AddPlan(source, model, target, name, base_entry.path, report, sidecar, tuple(remarks))

    def _plan_add_peft(
        self,
        source: Path,
        model: str,
        *,
        version: str | None,
        date: dt.date | None,
        examples: int | None,
        base: str | Path | None,
        truster: str,
        notes: str | None,
        max_lora_rank: int,
        now: dt.datetime | None,
    ) -> AddPlan:
        """`plan_add` for a PEFT directory: the same naming, trust and refusal rules as a GGUF file."""
        entry = self.model(model)
        base_entry = entry.base(base, kind=PEFT)
        name = _resolve_dir_name(source, version=version, date=date, examples=examples)
        _refuse_existing(entry, name)
        hf_base = entry.open_hf_base(base_entry)
        sidecar: dict[str, Any] = {}
        with contextlib.suppress(ValidationError):
            sidecar.update(read_sidecar(source))
        remarks: list[str] = []
        if notes:
            sidecar["notes"] = notes
        report = validate_peft_adapter(source, hf_base, max_lora_rank=max_lora_rank, sidecar=sidecar)
        identity = report.identity
        if truster and identity is not None:
            if identity.state is IdentityState.UNKNOWN:
                stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
                sidecar["base_fingerprint"] = hf_base.fingerprint
                sidecar[TRUST_KEY] = {"by": truster, "at": stamp, "base": base_entry.path.name}
                remarks.append(
                    f"base {base_entry.path.name} recorded on the word of {truster} (--trust-base), {stamp}"
                )
                report = validate_peft_adapter(source, hf_base, max_lora_rank=max_lora_rank, sidecar=sidecar)
            elif identity.state is IdentityState.VERIFIED:
                remarks.append(f"--trust-base not needed, nothing recorded on your word: {identity.summary}")
        target = entry.root / ADAPTERS_DIR / name.dir_name
        return AddPlan(source, model, target, name, base_entry.path, report, sidecar, tuple(remarks), PEFT)

    def commit_add(self, plan: AddPlan, *, now: dt.datetime | None = None) -> AdapterEntry:
        """Write the planned version; raises the first failed check if the plan did not validate."""
        plan.report.raise_for_failure()
        adapters_dir = plan.target.parent
        adapters_dir.mkdir(parents=True, exist_ok=True)
        with locked(adapters_dir):
            _refuse_existing(self.model(plan.model), plan.name)
            files: dict[str, str] = {}
            if plan.kind == PEFT:
                files = copy_new_dir(plan.source, plan.target)
                digest = dir_sha256(plan.target)
            else:
                digest = copy_new(plan.source, plan.target)
            stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
            sidecar = dict(plan.sidecar)
            target_sidecar = sidecar_path(plan.target)
            with contextlib.suppress(ValidationError):
                sidecar.update(read_sidecar(plan.target))  # a sidecar placed there by hand is kept
            sidecar.update(
                {
                    "version": plan.name.version,
                    "sha256": digest,
                    "added_at": stamp,
                    "source": str(plan.source.resolve()),
                    "validated_against": plan.base.name,
                }
            )
            if files:
                sidecar["files"] = files
            write_json_atomic(target_sidecar, sidecar)
        return _adapter_entry(plan.target)

    def trust(
        self,
        model: str,
        version: str,
        *,
        base: str | Path | None = None,
        trusted_by: str | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[AdapterEntry, BaseIdentity]:
        """Vouch for the base of a version already in the registry (copied there by hand, or added
        before base identity was checked): the `--trust-base` of `add`, for a file that is in place.

        Only an unknown base is vouched for: a verified one needs nobody's word
        (nothing is written), and a mismatch is refused, as `add` refuses it.
        The sidecar gains the base's fingerprint and who vouched and when; the
        rest of it is kept. Returns the version and its identity afterwards.
        """
        truster = check_trusted_by(trusted_by if trusted_by is not None else default_truster())
        entry = self.model(model)
        adapter = entry.adapter(version)
        kind = adapter.kind
        base_entry = entry.base(base, kind=kind)
        with locked(adapter.path.parent):
            sidecar = read_sidecar(adapter.path)
            if kind == PEFT:
                hf_base = entry.open_hf_base(base_entry)
                fingerprint = hf_base.fingerprint
                identity = validate_peft_adapter(
                    adapter.path, hf_base, max_lora_rank=None, sidecar=sidecar
                ).identity
            else:
                base_model = entry.open_base(base_entry)
                fingerprint = base_model.fingerprint
                identity = validate_adapter(adapter.path, base_model, sidecar=sidecar).identity
            if identity is None:
                raise ValidationError(
                    f"{adapter.path.name}: its base could not be checked against {base_entry.path.name}",
                    hint=f"Run `slipway adapters validate {adapter.path} --base {base_entry.path}` "
                    "and fix what it reports first.",
                )
            if identity.state is IdentityState.MISMATCH:
                raise AdapterMismatchError(
                    f"it was trained for another base than {base_entry.path.name}; nobody's word "
                    "changes that",
                    path=str(adapter.path),
                    check="base-identity",
                    found=identity.summary,
                    expected=f"an adapter of {base_entry.path.name}",
                    hint="Deploy it on the base it was trained for, or retrain it on this one.",
                )
            if identity.state is IdentityState.UNKNOWN:
                stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
                sidecar["base_fingerprint"] = fingerprint
                sidecar[TRUST_KEY] = {"by": truster, "at": stamp, "base": base_entry.path.name}
                write_json_atomic(sidecar_path(adapter.path), sidecar)
                identity = self.model(model).identities(adapter)[base_entry.path]
        return _adapter_entry(adapter.path), identity

    def add_adapter(self, source: str | os.PathLike[str], model: str, **options: Any) -> AdapterEntry:
        """plan_add + commit_add: validate, refuse on failure, then write."""
        return self.commit_add(self.plan_add(source, model, **options))


# --------------------------------------------------------------------------- helpers


def _gguf_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix.lower() == GGUF_SUFFIX and not p.name.startswith(".") and p.is_file()
    )


def _trained_on(name: str | None) -> str | None:
    return f"trained on {name}" if name else None


def _hf_dirs(directory: Path) -> list[Path]:
    """Base directories: the ones holding a Hugging Face config.json."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if not p.name.startswith(".") and (p / HF_CONFIG_NAME).is_file()
    )


def _peft_dirs(directory: Path) -> list[Path]:
    """Adapter directories; hidden ones (a `.partial` copy under way or left by a crash) are not versions."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if not p.name.startswith(".") and p.is_dir())


def _dir_sizes(directory: Path) -> tuple[int, int]:
    files = [p for p in directory.iterdir() if p.is_file()]
    return sum(p.stat().st_size for p in files), sum(disk_usage(p) for p in files)


def _adapter_entry(path: Path) -> AdapterEntry:
    kind: Kind = PEFT if path.is_dir() else GGUF
    size, disk = _dir_sizes(path) if kind == PEFT else (path.stat().st_size, disk_usage(path))
    side = sidecar_path(path)
    if side.is_file():
        disk += disk_usage(side)
    try:
        name = parse_adapter_dir_name(path.name) if kind == PEFT else parse_adapter_name(path.name)
        return AdapterEntry(path, size, disk, name, kind=kind)
    except AdapterNameError as exc:
        return AdapterEntry(path, size, disk, None, exc, kind=kind)


def _adapter_order(entry: AdapterEntry) -> tuple[int, Any, str]:
    if entry.name is None:
        return (1, ((), ""), entry.path.name)
    return (0, entry.name.sort_key, entry.path.name)


def _resolve_name(
    source: Path, *, version: str | None, date: dt.date | None, examples: int | None
) -> AdapterName:
    """From the options, else the file's name, else the adapter's own slipway metadata."""
    parsed: AdapterName | None = None
    name_error: AdapterNameError | None = None
    try:
        parsed = parse_adapter_name(source.name)
    except AdapterNameError as exc:
        name_error = exc
    fields: dict[str, Any] = {}
    if version is None or date is None or examples is None:
        with contextlib.suppress(GGUFError):
            fields = dict(open_gguf(source).fields)
    final_examples = examples
    if final_examples is None:
        final_examples = parsed.examples if parsed else _int(fields.get("slipway.training.examples"))
    return _named(
        source,
        version or (parsed.version if parsed else None) or _str(fields.get("slipway.version")),
        date or (parsed.date if parsed else None) or _date(fields.get("slipway.created")),
        final_examples,
        because=name_error.reason if name_error else "the file name lacks them",
        unrecorded="the adapter's metadata does not say",
        expected="v2.1-2026-01-15-1247examples.gguf, or the missing parts as options",
    )


def _resolve_dir_name(
    source: Path, *, version: str | None, date: dt.date | None, examples: int | None
) -> AdapterName:
    """From the options, else the directory's name; a PEFT config records none of the three."""
    parsed: AdapterName | None = None
    name_error: AdapterNameError | None = None
    try:
        parsed = parse_adapter_dir_name(source.name)
    except AdapterNameError as exc:
        name_error = exc
    return _named(
        source,
        version or (parsed.version if parsed else None),
        date or (parsed.date if parsed else None),
        examples if examples is not None else (parsed.examples if parsed else None),
        because=name_error.reason if name_error else "the directory name lacks them",
        unrecorded="a PEFT adapter_config.json does not record",
        expected="a directory named v2.1-2026-01-15-1247examples, or the missing parts as options",
    )


def _named(
    source: Path,
    version: str | None,
    date: dt.date | None,
    examples: int | None,
    *,
    because: str,
    unrecorded: str,
    expected: str,
) -> AdapterName:
    """The version's name from its three parts, or an error naming the options that would supply them."""
    missing = [
        flag
        for flag, value in (("--version", version), ("--date", date), ("--examples", examples))
        if value is None
    ]
    if missing:
        raise AdapterNameError(
            f"cannot name the new version: {because}, and {unrecorded} "
            f"{' / '.join(m.removeprefix('--') for m in missing)}",
            path=str(source),
            check="file-name",
            found=repr(source.name),
            expected=expected,
            hint=f"Pass {' '.join(m + ' ...' for m in missing)} to `slipway adapters add`.",
        )
    assert version is not None and date is not None and examples is not None
    return parse_adapter_name(format_adapter_name(version, date, examples))


def _refuse_existing(model: ModelEntry, name: AdapterName) -> None:
    for existing in model.adapters:
        if existing.path.name in (name.file_name, name.dir_name) or (
            existing.name is not None and version_key(existing.name.version) == version_key(name.version)
        ):
            raise VersionExistsError(
                f"model {model.name!r} already has version {name.version} ({existing.path.name}); "
                "versions are never replaced or deleted",
                hint="Give the new adapter a new version (e.g. --version "
                f"{_next_version(name.version)}); rolling back to the existing one stays possible.",
            )


def _next_version(version: str) -> str:
    numbers, _tag = version_key(version)
    if not numbers:
        return "v1.0"
    return "v" + ".".join(str(n) for n in (*numbers[:-1], numbers[-1] + 1))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


__all__ = [
    "DEFAULT_MODELS_DIR",
    "MODELS_DIR_ENV",
    "AdapterEntry",
    "AddPlan",
    "BaseEntry",
    "Catalog",
    "ModelEntry",
    "default_models_dir",
    "disk_usage",
    "file_sha256",
]
