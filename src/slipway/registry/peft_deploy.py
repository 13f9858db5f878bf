"""Before a deploy asks vLLM to load a PEFT adapter from the registry, the registry's checks run.

A `kind: vllm` slot names its adapter by path. When that path is a version
in a registry (`<models>/<model>/adapters/<version>/`), the model's Hugging
Face base is known (the one the version was validated against when added,
or the model's only one), so the file checks can run before vLLM sees the
directory: a truncated or mismatched version fails the deploy with its
check named instead of breaking, or silently misserving from, a running
server. A path outside a registry (one only the vLLM machine can see) is
left to vLLM.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from slipway.core.errors import ValidationError
from slipway.registry.catalog import ADAPTERS_DIR, BASE_DIR, PEFT, Catalog
from slipway.registry.metadata import read_sidecar
from slipway.registry.peft_validate import validate_peft_adapter
from slipway.registry.report import ValidationReport


def registry_model(adapter: Path) -> tuple[Catalog, str] | None:
    """The registry and model a PEFT version lives in, or None for a path outside a registry."""
    if not adapter.is_dir() or adapter.parent.name != ADAPTERS_DIR:
        return None
    model_root = adapter.parent.parent
    if not (model_root / BASE_DIR).is_dir():
        return None
    return Catalog(model_root.parent), model_root.name


def validate_registry_peft(adapter: Path, *, max_lora_rank: int | None = None) -> ValidationReport | None:
    """The file checks of a registry version against its model's Hugging Face base; None outside one.

    Raises NotFoundError when the model has no (or no matching) Hugging
    Face base: a version in the registry must be checkable.
    """
    found = registry_model(adapter)
    if found is None:
        return None
    catalog, name = found
    model = catalog.model(name)
    recorded: str | None = None
    with contextlib.suppress(ValidationError):
        value = read_sidecar(adapter).get("validated_against")
        recorded = value if isinstance(value, str) and value else None
    base = model.base(recorded, kind=PEFT)
    return validate_peft_adapter(adapter, model.open_hf_base(base), max_lora_rank=max_lora_rank)


def check_registry_peft(adapter: str) -> None:
    """For the deploy path: raise the first failed check's typed error; nothing for a path elsewhere."""
    report = validate_registry_peft(Path(adapter))
    if report is not None:
        report.raise_for_failure()
