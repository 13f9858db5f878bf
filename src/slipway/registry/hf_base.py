"""A Hugging Face base model directory, as a PEFT adapter needs it: its sizes, its name, its fingerprint.

vLLM serves a PEFT adapter on a base given as a Hugging Face directory
(config.json, tokenizer files, weights). Checking an adapter needs only
config.json and the tokenizer files, so the weights are never read and a
directory without them (a test's, or one whose weights are still being
copied) can be checked too (check `base-config`).

The fingerprint is the PEFT counterpart of `fingerprint.py`'s: what an
adapter's meaning depends on — the config fields that define the
architecture and every tokenizer file's bytes — hashed deterministically;
names, paths, dtypes and weights' values are left out, as there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from slipway.core.errors import FileCheckError

CHECK = "base-config"
CONFIG_NAME = "config.json"
MAX_CONFIG_BYTES = 1024 * 1024
#: Tokenizer files that change what token ids mean; hashed when present.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
)
#: The config fields that fix the architecture and every LoRA shape.
IDENTITY_FIELDS = (
    "model_type",
    "architectures",
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "num_hidden_layers",
    "vocab_size",
    "tie_word_embeddings",
)
FINGERPRINT_SCHEME = "slipway-hf-base-fingerprint-v1"
_MAX_SIZE = 1 << 24
_CHUNK = 1 << 20


@dataclass(frozen=True)
class HFBase:
    path: Path
    model_type: str
    architectures: tuple[str, ...]
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    num_hidden_layers: int
    vocab_size: int
    name_or_path: str | None
    tokenizer_files: tuple[str, ...]
    config: Mapping[str, Any] = field(repr=False, compare=False)

    @cached_property
    def fingerprint(self) -> str:
        return hf_fingerprint(self.path, self.config, self.tokenizer_files)

    def describe(self) -> str:
        return (
            f"{self.path.name}: {self.model_type} ({', '.join(self.architectures) or 'no architectures'}), "
            f"{self.num_hidden_layers} layers, hidden {self.hidden_size}, vocab {self.vocab_size}"
        )


def open_hf_base(directory: Path) -> HFBase:
    """The base's config, validated; FileCheckError (check `base-config`) naming the field and the fix."""
    path = directory / CONFIG_NAME
    if not directory.is_dir():
        raise _error(
            directory,
            "the base is not a directory: a PEFT adapter is checked against a Hugging Face model directory",
            found="a file" if directory.exists() else "nothing at that path",
            expected=f"a directory holding {CONFIG_NAME} and the tokenizer files",
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise _error(
            path, f"{CONFIG_NAME} cannot be read: {exc.strerror or exc}", found=None, expected=CONFIG_NAME
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise _error(
            path, f"{CONFIG_NAME} is too large", found=f"> {MAX_CONFIG_BYTES} bytes", expected="a few KiB"
        )
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _error(
            path, f"{CONFIG_NAME} is not valid JSON", found="unparsable", expected="a JSON object"
        ) from None
    if not isinstance(config, dict):
        raise _error(
            path, f"{CONFIG_NAME} is not a JSON object", found=type(config).__name__, expected="an object"
        )
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type or len(model_type) > 64:
        raise _error(
            path, "model_type is missing or not a name", found=repr(model_type), expected="e.g. 'llama'"
        )
    architectures = config.get("architectures") or []
    if not isinstance(architectures, list) or not all(
        isinstance(a, str) and len(a) <= 128 for a in architectures
    ):
        raise _error(
            path, "architectures is not a list of names", found=repr(architectures)[:80], expected="a list"
        )
    heads = _size(path, config, "num_attention_heads")
    hidden = _size(path, config, "hidden_size")
    kv_heads = _size(path, config, "num_key_value_heads", default=heads)
    head_dim = _size(path, config, "head_dim", default=hidden // heads if hidden % heads == 0 else None)
    name = config.get("_name_or_path")
    return HFBase(
        path=directory,
        model_type=model_type,
        architectures=tuple(architectures),
        hidden_size=hidden,
        intermediate_size=_size(path, config, "intermediate_size"),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        num_hidden_layers=_size(path, config, "num_hidden_layers"),
        vocab_size=_size(path, config, "vocab_size"),
        name_or_path=name if isinstance(name, str) and name and len(name) <= 1024 else None,
        tokenizer_files=tuple(n for n in TOKENIZER_FILES if (directory / n).is_file()),
        config=config,
    )


def hf_fingerprint(directory: Path, config: Mapping[str, Any], tokenizer_files: tuple[str, ...]) -> str:
    """sha256 over the identity fields (canonical JSON) and each tokenizer file, length-prefixed."""
    digest = hashlib.sha256()

    def put(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    put(FINGERPRINT_SCHEME.encode())
    fields = {k: config.get(k) for k in IDENTITY_FIELDS}
    put(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(tokenizer_files):
        put(name.encode())
        file_digest = hashlib.sha256()
        with (directory / name).open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                file_digest.update(chunk)
        put(file_digest.digest())
    return digest.hexdigest()


def _size(path: Path, config: Mapping[str, Any], key: str, *, default: int | None = None) -> int:
    value = config.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _MAX_SIZE:
        raise _error(
            path,
            f"{key} is missing or not a positive whole number; adapter shapes cannot be checked without it",
            found=repr(value),
            expected=f"a whole number from 1 to {_MAX_SIZE}",
        )
    return value


def _error(path: Path, message: str, *, found: str | None, expected: str | None) -> FileCheckError:
    return FileCheckError(
        message,
        path=str(path),
        check=CHECK,
        found=found,
        expected=expected,
        hint="Pass the base model's Hugging Face directory (the one vLLM is started with), "
        f"with its {CONFIG_NAME} and tokenizer files.",
    )
