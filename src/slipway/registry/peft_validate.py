"""Is this PEFT adapter directory safe to hand to vLLM on this base? The file checks, before any load.

vLLM reads a PEFT directory (adapter_config.json + adapter_model.safetensors)
only when asked to load it, into a server already serving traffic; what it
refuses then is a failed deploy, and what it does not notice (a truncated
file it reads garbage from, an adapter for another base) is worse. So
`validate_peft_adapter` makes the same checks first, each a named entry in
the report (see `report.CHECKS`): peft-config, peft-type, lora-config,
safetensors-intact, dtype, base-config, target-modules, lora-shapes,
max-rank, base-identity. `loadable` (a real engine) is added by the caller,
as for GGUF adapters.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.core.errors import (
    AdapterInvalid,
    AdapterMismatchError,
    BaseUnknownError,
    ValidationError,
)
from slipway.registry.check_runner import CheckRunner
from slipway.registry.hf_base import HFBase, open_hf_base
from slipway.registry.identity import TRUST_KEY, IdentityState, Verdict, parse_trust
from slipway.registry.metadata import read_sidecar, sidecar_path
from slipway.registry.peft_config import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    PeftConfig,
    check_peft_type,
    load_config_json,
    parse_lora_config,
)
from slipway.registry.peft_identity import peft_base_identity
from slipway.registry.peft_shapes import (
    check_lora_shapes,
    check_max_rank,
    check_target_modules,
)
from slipway.registry.report import CheckResult, CheckStatus, ValidationReport
from slipway.registry.safetensors_header import SafetensorsHeader, read_safetensors_header

#: vLLM's own default for --max-lora-rank.
DEFAULT_MAX_LORA_RANK = 16
SUPPORTED_DTYPES = ("F32", "F16", "BF16")


def is_peft_dir(path: Path) -> bool:
    """A directory is taken for a PEFT adapter; the checks then say what it lacks."""
    return path.is_dir()


def validate_peft_adapter(
    adapter: str | Path,
    base: str | Path | HFBase,
    *,
    max_lora_rank: int | None = DEFAULT_MAX_LORA_RANK,
    sidecar: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """Every file check of the PEFT directory `adapter` against the HF base; never raises for a bad file.

    `max_lora_rank` None: the engine's limit is not known here (a deploy to
    a running vLLM), so `max-rank` is skipped and vLLM checks it on load.
    `sidecar` defaults to `<adapter>.json` beside the directory (the
    registry's metadata), which may record the base fingerprint.
    """
    adapter = Path(adapter)
    run = CheckRunner()
    data: dict[str, Any] | None = run("peft-config", lambda: _config_json(adapter))
    config: PeftConfig | None = None
    if data is not None:
        raw = data
        run("peft-type", lambda: check_peft_type(adapter / CONFIG_NAME, raw))
        if run.passed("peft-type"):
            config = run("lora-config", lambda: _lora_config(adapter, raw))
        else:
            run.skip("lora-config", because="the adapter is not LoRA")
    else:
        run.skip("peft-type", "lora-config", because="adapter_config.json could not be read")
    header: SafetensorsHeader | None = run("safetensors-intact", lambda: _intact(adapter))
    if header is not None:
        opened = header
        run("dtype", lambda: _dtypes(opened))
    else:
        run.skip("dtype", because="the safetensors file could not be read")

    hf_base: HFBase | None
    if isinstance(base, HFBase):
        hf_base = base
        run.passed_now("base-config", base.describe())
    else:
        hf_base = run("base-config", lambda: _base(Path(base)))
    base_path = hf_base.path if hf_base is not None else Path(str(base))

    no_config = (
        "adapter_config.json could not be read"
        if data is None
        else "the adapter is not LoRA"
        if not run.passed("peft-type")
        else "its LoRA fields are not valid"
    )
    if max_lora_rank is None:
        run.skip("max-rank", because="the engine's max LoRA rank is not known here; vLLM checks it on load")
    elif config is not None:
        chosen, limit = config, max_lora_rank
        run("max-rank", lambda: check_max_rank(chosen, limit))
    else:
        run.skip("max-rank", because=no_config)

    if config is None or header is None or hf_base is None:
        because = (
            no_config
            if config is None
            else "the safetensors file could not be read"
            if header is None
            else "the base could not be read"
        )
        run.skip("target-modules", "lora-shapes", because=because)
    else:
        cfg, hdr, hfb = config, header, hf_base
        run("target-modules", lambda: check_target_modules(cfg, hdr, hfb))
        if run.passed("target-modules"):
            run("lora-shapes", lambda: check_lora_shapes(cfg, hdr, hfb))
        elif run.warned("target-modules"):
            run.warn("lora-shapes", run.detail("target-modules"))
        else:
            run.skip("lora-shapes", because="a target module is not in the base")

    if config is None or hf_base is None:
        run.skip("base-identity", because=no_config if config is None else "the base could not be read")
    else:
        run.add(
            _identity(adapter, config, hf_base, sidecar, run.get("target-modules"), run.get("lora-shapes"))
        )
    return ValidationReport(adapter, base_path, run.results)


# --------------------------------------------------------------------------- the checks


def _config_json(adapter: Path) -> tuple[dict[str, Any], str]:
    if not adapter.is_dir():
        raise AdapterInvalid(
            "a PEFT adapter is a directory; this is not one",
            path=str(adapter),
            check="peft-config",
            found="a file" if adapter.exists() else "nothing at that path",
            expected=f"a directory with {CONFIG_NAME} and {WEIGHTS_NAME}",
            hint="Pass the directory PEFT's save_pretrained wrote.",
        )
    data = load_config_json(adapter / CONFIG_NAME)
    return data, f"{len(data)} keys"


def _lora_config(adapter: Path, data: Mapping[str, Any]) -> tuple[PeftConfig, str]:
    config = parse_lora_config(adapter / CONFIG_NAME, data)
    targets = (
        ", ".join(config.target_modules) if config.target_modules else config.target_regex or "all-linear"
    )
    return config, f"r={config.r}, alpha={config.lora_alpha:g}, targets {targets}"


def _intact(adapter: Path) -> tuple[SafetensorsHeader, str]:
    path = adapter / WEIGHTS_NAME
    if not path.is_file():
        raise AdapterInvalid(
            f"the directory has no {WEIGHTS_NAME}",
            path=str(adapter),
            check="safetensors-intact",
            found=", ".join(sorted(p.name for p in adapter.iterdir())[:8])
            if adapter.is_dir()
            else "no directory",
            expected=WEIGHTS_NAME,
            hint="vLLM loads only safetensors weights from PEFT directories here: save with "
            "save_pretrained(..., safe_serialization=True).",
        )
    header = read_safetensors_header(path)
    return (
        header,
        f"{len(header.tensors)} tensors, header {header.header_bytes} bytes, {header.size} bytes in all",
    )


def _dtypes(header: SafetensorsHeader) -> str:
    bad = sorted({(t.dtype, t.name) for t in header.tensors.values() if t.dtype not in SUPPORTED_DTYPES})
    if bad:
        name = bad[0][1]
        raise AdapterInvalid(
            f"{len(bad)} tensor(s) have a dtype vLLM does not load LoRA weights in (first: {name!r})",
            path=str(header.path),
            check="dtype",
            found=", ".join(sorted({d for d, _ in bad})),
            expected=" / ".join(SUPPORTED_DTYPES),
            hint="Save the adapter in float32, float16 or bfloat16 (not quantised): e.g. "
            "model.to(torch.bfloat16) before save_pretrained.",
        )
    return ", ".join(sorted({t.dtype for t in header.tensors.values()})) or "no tensors"


def _base(path: Path) -> tuple[HFBase, str]:
    base = open_hf_base(path)
    return base, base.describe()


def _identity(
    adapter: Path,
    config: PeftConfig,
    base: HFBase,
    sidecar: Mapping[str, Any] | None,
    modules: CheckResult | None,
    shapes: CheckResult | None,
) -> CheckResult:
    started = time.perf_counter()
    if sidecar is None:
        try:
            sidecar = read_sidecar(adapter)
        except ValidationError:
            sidecar = {}
    side_name = sidecar_path(adapter).name
    try:
        trust = parse_trust(sidecar.get(TRUST_KEY), side_name)
    except ValidationError as exc:
        bad = AdapterInvalid(exc.message, path=str(adapter), check="base-identity", hint=exc.hint)
        return CheckResult(
            "base-identity", CheckStatus.FAILED, bad.reason, time.perf_counter() - started, bad
        )
    recorded = sidecar.get("base_fingerprint")
    where = "sidecar"
    if not isinstance(recorded, str) or not recorded:
        recorded, where = config.base_fingerprint, CONFIG_NAME
    identity = peft_base_identity(
        declared_name=config.base_model_name_or_path,
        recorded_fingerprint=recorded,
        recorded_where=where,
        base=base,
        modules=_verdict(modules),
        shapes=_verdict(shapes),
        trust=trust,
    )
    elapsed = time.perf_counter() - started
    if identity.state is IdentityState.VERIFIED:
        return CheckResult("base-identity", CheckStatus.PASSED, identity.summary, elapsed, identity=identity)
    expected = f"{base.path.name}, recorded as its fingerprint or its name (base_model_name_or_path)"
    if identity.state is IdentityState.MISMATCH:
        mismatch = AdapterMismatchError(
            identity.summary,
            path=str(adapter),
            check="base-identity",
            found=identity.found,
            expected=identity.expected or expected,
            hint=identity.hint,
        )
        return CheckResult("base-identity", CheckStatus.FAILED, identity.summary, elapsed, mismatch, identity)
    unknown = BaseUnknownError(
        "the adapter does not record which base it was trained for, so a wrong base cannot be ruled out",
        path=str(adapter),
        check="base-identity",
        found="no recorded base fingerprint and no base_model_name_or_path",
        expected=expected,
        hint=identity.hint,
    )
    return CheckResult("base-identity", CheckStatus.WARNED, identity.summary, elapsed, unknown, identity)


def _verdict(check: CheckResult | None) -> Verdict:
    if check is None or check.status in (CheckStatus.SKIPPED, CheckStatus.WARNED):
        return Verdict.UNCHECKED
    return Verdict.MATCH if check.status is CheckStatus.PASSED else Verdict.DIFFER
