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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.core.errors import (
    AdapterMismatchError,
    GGUFError,
    NotFoundError,
    ValidationError,
)
from slipway.registry.entries import (
    ADAPTERS_DIR,
    BASE_DIR,
    DEFAULT_MODELS_DIR,
    MODELS_DIR_ENV,
    PEFT,
    AdapterEntry,
    BaseEntry,
    Kind,
    ModelEntry,
    adapter_entry,
    adapter_order,
    default_models_dir,
    dir_sizes,
    gguf_files,
    hf_dirs,
    peft_dirs,
)
from slipway.registry.identity import (
    TRUST_KEY,
    BaseIdentity,
    IdentityState,
    check_trusted_by,
    default_truster,
)
from slipway.registry.metadata import adapter_metadata, read_sidecar, sidecar_path
from slipway.registry.naming import (
    AdapterName,
)
from slipway.registry.new_version import refuse_existing, resolve_dir_name, resolve_file_name
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
from slipway.registry.validate import validate_adapter


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
            [BaseEntry(p, p.stat().st_size, disk_usage(p)) for p in gguf_files(root / BASE_DIR)]
            + [BaseEntry(p, *dir_sizes(p), kind=PEFT) for p in hf_dirs(root / BASE_DIR)]
        )
        adapters = [adapter_entry(p) for p in gguf_files(root / ADAPTERS_DIR)]
        adapters += [adapter_entry(p) for p in peft_dirs(root / ADAPTERS_DIR)]
        adapters.sort(key=adapter_order)
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
        name = resolve_file_name(source, version=version, date=date, examples=examples)
        refuse_existing(entry, name)
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
                remarks.append(_vouch(sidecar, base_model.fingerprint, truster, base_entry.path.name, now))
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
        name = resolve_dir_name(source, version=version, date=date, examples=examples)
        refuse_existing(entry, name)
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
                remarks.append(_vouch(sidecar, hf_base.fingerprint, truster, base_entry.path.name, now))
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
            refuse_existing(self.model(plan.model), plan.name)
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
        return adapter_entry(plan.target)

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
                _vouch(sidecar, fingerprint, truster, base_entry.path.name, now)
                write_json_atomic(sidecar_path(adapter.path), sidecar)
                identity = self.model(model).identities(adapter)[base_entry.path]
        return adapter_entry(adapter.path), identity

    def add_adapter(self, source: str | os.PathLike[str], model: str, **options: Any) -> AdapterEntry:
        """plan_add + commit_add: validate, refuse on failure, then write."""
        return self.commit_add(self.plan_add(source, model, **options))


def _vouch(
    sidecar: dict[str, Any], fingerprint: str, truster: str, base: str, now: dt.datetime | None
) -> str:
    """Record in `sidecar` that `truster` vouched, now, that the adapter was trained on `base`; the remark."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    sidecar["base_fingerprint"] = fingerprint
    sidecar[TRUST_KEY] = {"by": truster, "at": stamp, "base": base}
    return f"base {base} recorded on the word of {truster} (--trust-base), {stamp}"


__all__ = [
    "ADAPTERS_DIR",
    "BASE_DIR",
    "DEFAULT_MODELS_DIR",
    "MODELS_DIR_ENV",
    "PEFT",
    "AdapterEntry",
    "AddPlan",
    "BaseEntry",
    "Catalog",
    "ModelEntry",
    "default_models_dir",
    "disk_usage",
    "file_sha256",
]
