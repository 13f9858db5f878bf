"""A PEFT adapter's adapter_config.json: read once, bounded, and every field slipway uses validated here.

PEFT's `save_pretrained` writes dozens of keys; the ones that decide
whether vLLM can load the adapter on a base are read and checked, the rest
are ignored (new PEFT releases add keys often). What vLLM refuses at load
time (DoRA, a trained bias, a rank above --max-lora-rank) is refused
here first, with the fix, rather than as a 400 from a running server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.core.errors import AdapterInvalid

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
CONFIG_CHECK = "peft-config"
TYPE_CHECK = "peft-type"
FIELDS_CHECK = "lora-config"

#: A real adapter_config.json is a few KiB; anything much larger is not one.
MAX_CONFIG_BYTES = 256 * 1024
#: vLLM's largest --max-lora-rank choice is 512; PEFT allows more, no engine serves it.
MAX_RANK = 4096
_MAX_TARGETS = 256
_MAX_TEXT = 1024


@dataclass(frozen=True)
class PeftConfig:
    path: Path
    peft_type: str
    r: int
    lora_alpha: float
    #: module names, or None when PEFT was given one regular expression (`target_regex`).
    target_modules: tuple[str, ...] | None
    target_regex: str | None
    rank_pattern: Mapping[str, int] = field(default_factory=dict)
    base_model_name_or_path: str | None = None
    #: slipway's own record of the base, when a tool wrote one into the config.
    base_fingerprint: str | None = None

    @property
    def max_rank(self) -> int:
        return max((self.r, *self.rank_pattern.values()))

    def rank_for(self, module: str) -> int:
        """The module's rank: a `rank_pattern` key matching the end of its dotted name wins, as in PEFT."""
        for pattern, rank in self.rank_pattern.items():
            if module == pattern or re.fullmatch(rf"(.*\.)?(?:{pattern})", module):
                return rank
        return self.r


def read_peft_config(directory: Path) -> PeftConfig:
    """The validated config; AdapterInvalid with check `peft-config`, `peft-type` or `lora-config`."""
    path = directory / CONFIG_NAME
    data = load_config_json(path)
    check_peft_type(path, data)
    return parse_lora_config(path, data)


def load_config_json(path: Path) -> dict[str, Any]:
    """The file as one JSON object, read with a size bound (check `peft-config`)."""
    return _load(path)


def check_peft_type(path: Path, data: Mapping[str, Any]) -> str:
    """peft_type must be LORA (check `peft-type`)."""
    peft_type = data.get("peft_type")
    if peft_type != "LORA":
        raise AdapterInvalid(
            "the adapter is not a LoRA adapter (peft_type); vLLM loads only LoRA",
            path=str(path),
            check=TYPE_CHECK,
            found=repr(peft_type) if peft_type is not None else "no peft_type",
            expected="'LORA'",
            hint="Prefix tuning, IA3, prompt tuning and other PEFT kinds cannot be served as LoRA versions; "
            "train a LoRA adapter (peft.LoraConfig).",
        )
    return "peft_type = 'LORA'"


def parse_lora_config(path: Path, data: Mapping[str, Any]) -> PeftConfig:
    """The LoRA fields vLLM uses, each bounded (check `lora-config`)."""
    r = _int(path, data, "r", 1, MAX_RANK)
    alpha = data.get("lora_alpha", r)
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0 < alpha <= 1e6:
        raise _bad(path, "lora_alpha", alpha, "a positive number")
    if data.get("use_dora"):
        raise _bad(
            path, "use_dora", True, "false: vLLM does not serve DoRA adapters", hint="Retrain without DoRA"
        )
    bias = data.get("bias", "none")
    if bias not in ("none", None):
        raise _bad(
            path, "bias", bias, "'none': vLLM does not load trained biases", hint="Retrain with bias='none'"
        )
    targets, regex = _targets(path, data.get("target_modules"))
    rank_pattern = _rank_pattern(path, data.get("rank_pattern"))
    base_name = _text(path, data, "base_model_name_or_path")
    fingerprint = _text(path, data, "slipway_base_fingerprint")
    return PeftConfig(path, "LORA", r, float(alpha), targets, regex, rank_pattern, base_name, fingerprint)


def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise AdapterInvalid(
            f"the directory has no {CONFIG_NAME}: it is not a PEFT adapter",
            path=str(path.parent),
            check=CONFIG_CHECK,
            found="no " + CONFIG_NAME,
            expected=f"{CONFIG_NAME} and {WEIGHTS_NAME}",
            hint="Pass the directory PEFT's save_pretrained wrote (it holds both files).",
        ) from None
    except OSError as exc:
        raise AdapterInvalid(
            f"{CONFIG_NAME} cannot be read: {exc.strerror or exc}",
            path=str(path),
            check=CONFIG_CHECK,
            hint="Fix the file's permissions.",
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise AdapterInvalid(
            f"{CONFIG_NAME} is too large to be an adapter config",
            path=str(path),
            check=CONFIG_CHECK,
            found=f"more than {MAX_CONFIG_BYTES} bytes",
            expected=f"at most {MAX_CONFIG_BYTES} bytes (a few KiB is usual)",
            hint="Check that the right file is in the adapter directory.",
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise AdapterInvalid(
            f"{CONFIG_NAME} is not valid JSON ({where})",
            path=str(path),
            check=CONFIG_CHECK,
            found="unparsable JSON",
            expected="one JSON object as PEFT's save_pretrained writes it",
            hint="Fix the JSON or save the adapter again with save_pretrained.",
        ) from None
    if not isinstance(data, dict):
        raise AdapterInvalid(
            f"{CONFIG_NAME} is not a JSON object",
            path=str(path),
            check=CONFIG_CHECK,
            found=type(data).__name__,
            expected="one JSON object as PEFT's save_pretrained writes it",
            hint="Save the adapter again with save_pretrained.",
        )
    return data


def _int(path: Path, data: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(path, key, value, f"a whole number from {low} to {high}")
    return value


def _text(path: Path, data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise _bad(path, key, value, f"a string of at most {_MAX_TEXT} characters")
    return value


def _targets(path: Path, value: Any) -> tuple[tuple[str, ...] | None, str | None]:
    if isinstance(value, str) and 0 < len(value) <= _MAX_TEXT:
        if value == "all-linear":
            return None, None
        try:
            re.compile(value)
        except re.error as exc:
            raise _bad(path, "target_modules", value, f"a valid regular expression ({exc})") from None
        return None, value
    if (
        isinstance(value, list)
        and 0 < len(value) <= _MAX_TARGETS
        and all(isinstance(v, str) and 0 < len(v) <= _MAX_TEXT for v in value)
    ):
        return tuple(value), None
    raise _bad(path, "target_modules", value, f"a list of 1 to {_MAX_TARGETS} module names, or one regex")


def _rank_pattern(path: Path, value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > _MAX_TARGETS * 128:
        raise _bad(path, "rank_pattern", value, "an object mapping module patterns to ranks")
    out: dict[str, int] = {}
    for key, rank in value.items():
        if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= MAX_RANK:
            raise _bad(path, f"rank_pattern[{key!r}]", rank, f"a whole number from 1 to {MAX_RANK}")
        if len(key) > _MAX_TEXT:
            raise _bad(path, "rank_pattern", key[:40], f"keys of at most {_MAX_TEXT} characters")
        try:
            re.compile(key)
        except re.error as exc:
            raise _bad(path, f"rank_pattern[{key!r}]", key, f"a valid module pattern ({exc})") from None
        out[key] = rank
    return out


def _bad(path: Path, key: str, value: Any, expected: str, *, hint: str | None = None) -> AdapterInvalid:
    shown = repr(value)
    return AdapterInvalid(
        f"{CONFIG_NAME}: {key} is not valid",
        path=str(path),
        check=FIELDS_CHECK,
        found=shown if len(shown) <= 80 else shown[:77] + "...",
        expected=expected,
        hint=(hint + "; " if hint else "")
        + "fix the value or save the adapter again with PEFT's save_pretrained.",
    )
