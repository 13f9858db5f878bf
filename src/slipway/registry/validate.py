"""Is this LoRA adapter safe to put in front of this base? The checks made from the files, before deploy.

`validate_adapter(adapter, base)` runs every check in `report.CHECKS`
except `loadable` (that needs an engine; see `registry.loadable`) and
returns a `ValidationReport`; it raises only for programming errors. The
checks mirror what llama.cpp's `llama_adapter_lora_init` refuses (so a bad
file is caught before it takes a running server down with it) and add the
one llama.cpp cannot make, the base identity:

* general.type must be "adapter" and adapter.type "lora";
* general.architecture must equal the base's;
* every LoRA pair fits the base tensor it targets (`shapes.py`);
* the base the adapter records must be this base (`identity_gguf.py`):
  slipway's fingerprint (GGUF key or sidecar), else the base model identity
  llama.cpp's converter records. An adapter that records neither is not
  failed but warned: its base is unknown (`identity.py`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from slipway.core.errors import (
    AdapterInvalid,
    AdapterMismatchError,
    BaseUnknownError,
    FileCheckError,
    GGUFError,
    ValidationError,
)
from slipway.registry.check_runner import CheckRunner
from slipway.registry.fingerprint import reader_fingerprint
from slipway.registry.identity import TRUST_KEY, BaseIdentity, IdentityState, Verdict, parse_trust
from slipway.registry.identity_gguf import gguf_base_identity, supporting_evidence
from slipway.registry.metadata import adapter_metadata, read_sidecar, sidecar_path
from slipway.registry.reader import GGUFFile, open_gguf, read_header
from slipway.registry.report import CheckResult, CheckStatus, ValidationReport
from slipway.registry.shapes import check_lora_shapes


@dataclass
class BaseModel:
    """A base GGUF opened once; its fingerprint is computed on first use (it reads the vocabulary)."""

    gguf: GGUFFile

    @property
    def path(self) -> Path:
        return self.gguf.path

    @property
    def architecture(self) -> str | None:
        return self.gguf.string("general.architecture")

    @cached_property
    def fingerprint(self) -> str:
        return reader_fingerprint(self.gguf.reader)


def open_base(path: str | Path) -> BaseModel:
    """Open and check a base model; GGUFError/FileCheckError (check `base-file`) if it is unusable."""
    path = Path(path)
    try:
        gguf_file = open_gguf(path)
    except GGUFError as exc:
        raise GGUFError(
            f"the base model is not a usable GGUF: {exc.reason}",
            path=str(path),
            check="base-file",
            found=exc.found,
            expected=exc.expected,
            hint=exc.hint,
        ) from None
    kind = gguf_file.string("general.type")
    if kind == "adapter":
        raise FileCheckError(
            "the base is itself an adapter, not a model",
            path=str(path),
            check="base-file",
            found="general.type = 'adapter'",
            expected="a base model (general.type 'model' or absent)",
            hint="Pass the base model's .gguf as the base (models/<name>/base/*.gguf).",
        )
    if not gguf_file.string("general.architecture"):
        raise FileCheckError(
            "the base has no general.architecture",
            path=str(path),
            check="base-file",
            found="no general.architecture key",
            expected="an architecture such as 'llama'",
            hint="Re-convert the base with llama.cpp's convert_hf_to_gguf.py.",
        )
    return BaseModel(gguf_file)


def validate_adapter(
    adapter: str | Path,
    base: str | Path | BaseModel,
    *,
    sidecar: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """Every file check of `adapter` against `base`, in order; never raises for a bad file.

    `sidecar` defaults to the adapter's `<stem>.json`, if any (it may
    record the base fingerprint for adapters converted by other tools).
    """
    adapter = Path(adapter)
    run = CheckRunner()
    gguf_file: GGUFFile | None = None

    run("header", lambda: _header(adapter))
    if run.passed("header"):
        gguf_file = run("intact", lambda: _intact(adapter))
    if gguf_file is not None:
        opened = gguf_file
        run("general-type", lambda: _general_type(opened))
        if run.passed("general-type"):
            run("adapter-type", lambda: _adapter_type(opened))
        else:
            run.skip("adapter-type", because="the file is not an adapter")
    else:
        run.skip("general-type", "adapter-type", because="the adapter file could not be read")

    base_model: BaseModel | None
    if isinstance(base, BaseModel):
        base_model = base
        run.passed_now("base-file", _describe_base(base))
    else:
        base_model = run("base-file", lambda: _base_file(Path(base)))
    base_path = base_model.path if base_model is not None else Path(str(base))

    if gguf_file is None or base_model is None or not run.passed("adapter-type"):
        if gguf_file is None:
            because = "the adapter file could not be read"
        elif not run.passed("adapter-type"):
            because = "the file is not a LoRA adapter"
        else:
            because = "the base could not be read"
        run.skip("architecture", "tensor-shapes", "base-identity", because=because)
        return ValidationReport(adapter, base_path, run.results)
    opened, model = gguf_file, base_model
    run("architecture", lambda: _architecture(opened, model))
    run("tensor-shapes", lambda: check_lora_shapes(opened, model.gguf.tensors, model.path.name))
    run.add(_base_identity_check(opened, model, sidecar, run.get("tensor-shapes")))
    return ValidationReport(adapter, base_path, run.results)


# --------------------------------------------------------------------------- the checks


def _header(adapter: Path) -> str:
    size, version, n_tensors, n_kv = read_header(adapter)
    return f"GGUF v{version}, {size} bytes, {n_tensors} tensors, {n_kv} keys"


def _intact(adapter: Path) -> tuple[GGUFFile, str]:
    opened = open_gguf(adapter)
    end = max((t.offset + t.n_bytes for t in opened.tensors.values()), default=0)
    return opened, f"{len(opened.fields)} keys, {len(opened.tensors)} tensors, data ends at byte {end}"


def _general_type(adapter: GGUFFile) -> str:
    kind = adapter.string("general.type")
    if kind != "adapter":
        looks_like_model = not any(n.endswith((".lora_a", ".lora_b")) for n in adapter.tensors)
        hint = (
            "This looks like a base model, not an adapter: pass it as the base (--base), "
            "and the adapter as ADAPTER."
            if looks_like_model
            else "Re-convert the adapter with llama.cpp's convert_lora_to_gguf.py (it writes general.type)."
        )
        raise AdapterInvalid(
            "the file is not a LoRA adapter (general.type)",
            path=str(adapter.path),
            check="general-type",
            found=repr(kind) if kind is not None else "no general.type key",
            expected="'adapter'",
            hint=hint,
        )
    return "general.type = 'adapter'"


def _adapter_type(adapter: GGUFFile) -> str:
    kind = adapter.string("adapter.type")
    if kind != "lora":
        raise AdapterInvalid(
            "the adapter is not a LoRA adapter (adapter.type); llama-server loads only LoRA",
            path=str(adapter.path),
            check="adapter-type",
            found=repr(kind) if kind is not None else "no adapter.type key",
            expected="'lora'",
            hint="Control vectors and other adapter kinds cannot be deployed as LoRA versions; "
            "re-convert a PEFT LoRA with convert_lora_to_gguf.py.",
        )
    return "adapter.type = 'lora'"


def _base_file(base: Path) -> tuple[BaseModel, str]:
    model = open_base(base)
    return model, _describe_base(model)


def _describe_base(model: BaseModel) -> str:
    return f"{model.path.name}: {model.architecture}, {len(model.gguf.tensors)} tensors"


def _architecture(adapter: GGUFFile, base: BaseModel) -> str:
    found = adapter.string("general.architecture")
    if found != base.architecture:
        raise AdapterMismatchError(
            f"the adapter was made for another architecture than the base {base.path.name}",
            path=str(adapter.path),
            check="architecture",
            found=repr(found) if found is not None else "no general.architecture key",
            expected=repr(base.architecture),
            hint="Use an adapter trained on this base model; llama-server refuses this pair "
            "at start-up and takes every other adapter down with it.",
        )
    return f"{found!r} = base's"


def base_identity(
    adapter: GGUFFile,
    base: BaseModel,
    sidecar: Mapping[str, Any] | None = None,
    shapes: CheckResult | None = None,
) -> BaseIdentity:
    """verified, mismatch or unknown; ValidationError if the sidecar's trust record is malformed.

    `shapes` is the `tensor-shapes` result when validation already ran it;
    otherwise the shapes are checked here (listing adapters needs the state
    without a whole validation).
    """
    if sidecar is None:
        try:
            sidecar = read_sidecar(adapter.path)
        except ValidationError:
            sidecar = {}
    side_name = sidecar_path(adapter.path).name
    trust = parse_trust(sidecar.get(TRUST_KEY), side_name)
    if shapes is None:
        try:
            shapes_verdict, shapes_detail = (
                Verdict.MATCH,
                check_lora_shapes(adapter, base.gguf.tensors, base.path.name),
            )
        except FileCheckError as exc:
            shapes_verdict, shapes_detail = Verdict.DIFFER, exc.reason
    elif shapes.status is CheckStatus.PASSED:
        shapes_verdict, shapes_detail = Verdict.MATCH, shapes.detail
    else:
        shapes_verdict, shapes_detail = Verdict.DIFFER, shapes.detail
    return gguf_base_identity(
        adapter,
        base.gguf,
        lambda: base.fingerprint,
        adapter_metadata(adapter, sidecar),
        supporting_evidence(adapter, base.gguf, shapes_verdict, shapes_detail),
        sidecar_name=side_name,
        trust=trust,
    )


def _base_identity_check(
    adapter: GGUFFile, base: BaseModel, sidecar: Mapping[str, Any] | None, shapes: CheckResult | None
) -> CheckResult:
    started = time.perf_counter()
    try:
        identity = base_identity(adapter, base, sidecar, shapes)
    except ValidationError as exc:
        bad = AdapterInvalid(exc.message, path=str(adapter.path), check="base-identity", hint=exc.hint)
        return CheckResult(
            "base-identity", CheckStatus.FAILED, bad.reason, time.perf_counter() - started, bad
        )
    elapsed = time.perf_counter() - started
    if identity.state is IdentityState.VERIFIED:
        return CheckResult("base-identity", CheckStatus.PASSED, identity.summary, elapsed, identity=identity)
    expected = f"{base.path.name}, recorded as its fingerprint or its base model identity"
    if identity.state is IdentityState.MISMATCH:
        mismatch = AdapterMismatchError(
            identity.summary,
            path=str(adapter.path),
            check="base-identity",
            found=identity.found or _deciding(identity),
            expected=identity.expected or expected,
            hint=identity.hint,
        )
        return CheckResult("base-identity", CheckStatus.FAILED, identity.summary, elapsed, mismatch, identity)
    unknown = BaseUnknownError(
        "the adapter does not record which base it was trained for, so a wrong base cannot be ruled out",
        path=str(adapter.path),
        check="base-identity",
        found="no base fingerprint and no base model identity (general.base_model.*)",
        expected=expected,
        hint=identity.hint,
    )
    return CheckResult("base-identity", CheckStatus.WARNED, identity.summary, elapsed, unknown, identity)


def _deciding(identity: BaseIdentity) -> str:
    differ = [e for e in identity.evidence if e.verdict is Verdict.DIFFER]
    return "; ".join(f"{e.subject}: {e.detail}" for e in differ) or identity.summary


# --------------------------------------------------------------------------- running them
