"""A base model's identity, as an adapter needs it: one trained for another base is caught before deploy.

llama.cpp accepts an adapter when the architecture and the shapes of the
tensors it touches match. That is not enough: a base with the same shapes
but another tokenizer (a vocabulary rebuilt, a different fine-tune lineage)
loads the adapter silently and produces nonsense. The fingerprint therefore
covers what an adapter's meaning depends on and nothing that changes
harmlessly (names, descriptions, quantisation of unrelated tensors' bytes):

* `general.architecture`,
* the tokenizer: `tokenizer.ggml.model` and every token string in order,
* every tensor's name and shape (in GGUF's own dimension order).

Tensor *values* are left out on purpose: hashing gigabytes would make
validation slow, and a re-quantised base (same shapes, same tokenizer) is one
an adapter still applies to. Training tools record the fingerprint in the
adapter under `slipway.base_fingerprint`; validation recomputes it for the
deployed base and compares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from os import PathLike
from typing import Any

import gguf

#: GGUF key under which an adapter records the fingerprint of its base.
FINGERPRINT_KEY = "slipway.base_fingerprint"

#: Bumped if what goes into the hash ever changes; part of the hash itself.
FINGERPRINT_SCHEME = "slipway-base-fingerprint-v1"


def compute_fingerprint(
    architecture: str,
    tokenizer_model: str,
    tokens: Iterable[bytes | str],
    tensor_shapes: Iterable[tuple[str, Sequence[int]]],
) -> str:
    """sha256 hex digest over the parts above, each length-prefixed (no ambiguity)."""
    digest = hashlib.sha256()

    def put(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    put(FINGERPRINT_SCHEME.encode())
    put(architecture.encode())
    put(tokenizer_model.encode())
    token_list = [t.encode() if isinstance(t, str) else bytes(t) for t in tokens]
    put(len(token_list).to_bytes(8, "little"))
    for token in token_list:
        put(token)
    shapes = sorted((name, tuple(int(d) for d in shape)) for name, shape in tensor_shapes)
    put(len(shapes).to_bytes(8, "little"))
    for name, shape in shapes:
        put(name.encode())
        put(b",".join(str(d).encode() for d in shape))
    return digest.hexdigest()


def base_fingerprint(path: str | PathLike[str]) -> str:
    """The fingerprint of a base GGUF file, read with the `gguf` package."""
    reader = gguf.GGUFReader(path)
    return reader_fingerprint(reader)


def reader_fingerprint(reader: Any) -> str:
    """Same, for an already opened `gguf.GGUFReader` (validation opens it once)."""
    return compute_fingerprint(
        _string_field(reader, "general.architecture"),
        _string_field(reader, "tokenizer.ggml.model"),
        _token_list(reader),
        [(str(t.name), [int(d) for d in t.shape]) for t in reader.tensors],
    )


def recorded_fingerprint(path: str | PathLike[str]) -> str | None:
    """The base fingerprint an adapter file says it was trained for, if any."""
    reader = gguf.GGUFReader(path)
    value = _string_field(reader, FINGERPRINT_KEY)
    return value or None


def _string_field(reader: Any, key: str) -> str:
    field = reader.get_field(key)
    if field is None or not field.data:
        return ""
    return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")


def _token_list(reader: Any) -> list[bytes]:
    field = reader.get_field("tokenizer.ggml.tokens")
    if field is None:
        return []
    return [bytes(field.parts[i]) for i in field.data]
