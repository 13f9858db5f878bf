"""Read a safetensors file's table of tensors without loading one, and prove every byte is there.

A copy or download cut short still has a perfect header: only a check of
the header against the file's size finds it. The layout is an 8-byte
little-endian header length N, N bytes of JSON (an object mapping each
tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}`, plus an
optional `__metadata__` object of strings), then the data; offsets count
from the first byte after the header. This module checks, before anything
trusts the file (check `safetensors-intact`):

* the header length is within the file and below a bound (a damaged first
  8 bytes must not make us read gigabytes of "JSON");
* the header is one JSON object, every entry well formed;
* every tensor's byte range is exactly dtype size x number of elements,
  lies inside the file, and no two ranges overlap; the data ends where the
  file ends (extra bytes mean a file written by something else).

Nothing here decides which dtypes an engine accepts: that is check `dtype`.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.core.errors import AdapterInvalid

CHECK = "safetensors-intact"

#: The safetensors library refuses headers above 100 MB; an adapter's table is a few hundred KiB.
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: A tensor of more dimensions than this is not a LoRA weight.
MAX_DIMS = 8
#: More tensors than this is not an adapter (a 128-layer model with 7 targets has 1,792).
MAX_TENSORS = 100_000
_MAX_NAME = 512

#: Bytes per element of every dtype the format defines (what the size check needs).
DTYPE_BYTES: Mapping[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


@dataclass(frozen=True)
class SafeTensor:
    name: str
    dtype: str
    #: numpy/PyTorch order (outermost first), as PEFT writes it.
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    path: Path
    size: int
    header_bytes: int
    tensors: Mapping[str, SafeTensor]
    metadata: Mapping[str, str]

    @property
    def data_end(self) -> int:
        return max((t.end for t in self.tensors.values()), default=0)


def read_safetensors_header(path: Path) -> SafetensorsHeader:
    """The validated table of tensors; AdapterInvalid (check `safetensors-intact`) naming what is wrong."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise _error(
                    path,
                    "the file is too short to hold a safetensors header",
                    found=f"{size} bytes",
                    expected="at least 8 bytes (the header length), then the header and the data",
                )
            header_len = int.from_bytes(prefix, "little")
            if header_len > MAX_HEADER_BYTES or header_len < 2:
                raise _error(
                    path,
                    "the header length in the first 8 bytes is not plausible: the file is damaged "
                    "or not safetensors",
                    found=f"{header_len} bytes",
                    expected=f"2 to {MAX_HEADER_BYTES} bytes",
                )
            if 8 + header_len > size:
                raise _error(
                    path,
                    "the file ends inside its header: it was cut short",
                    found=f"{size} bytes",
                    expected=f"at least {8 + header_len} bytes (header of {header_len} bytes)",
                )
            raw = handle.read(header_len)
    except OSError as exc:
        raise _error(
            path, f"the file cannot be read: {exc.strerror or exc}", found=None, expected=None
        ) from None
    try:
        table = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _error(
            path,
            f"the header is not valid JSON ({exc}): the file is damaged or not safetensors",
            found=repr(raw[:40]),
            expected="a JSON object of tensor entries",
        ) from None
    if not isinstance(table, dict):
        raise _error(
            path, "the header is not a JSON object", found=type(table).__name__, expected="an object"
        )
    return _check_table(path, size, header_len, table)


def _check_table(path: Path, size: int, header_len: int, table: dict[str, Any]) -> SafetensorsHeader:
    metadata = table.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _error(
            path, "__metadata__ must map strings to strings", found=repr(metadata)[:80], expected="{str: str}"
        )
    if len(table) > MAX_TENSORS:
        raise _error(
            path, "the header lists too many tensors", found=str(len(table)), expected=f"<= {MAX_TENSORS}"
        )
    data_size = size - 8 - header_len
    tensors: dict[str, SafeTensor] = {}
    for name, entry in table.items():
        tensors[name] = _entry(path, name, entry, data_size)
    ranges = sorted((t.begin, t.end, t.name) for t in tensors.values() if t.end > t.begin)
    for (_b1, e1, n1), (b2, _e2, n2) in itertools.pairwise(ranges):
        if b2 < e1:
            raise _error(
                path,
                f"tensors {n1!r} and {n2!r} share bytes: the header is corrupt",
                found=f"{n1} ends at {e1}, {n2} starts at {b2}",
                expected="non-overlapping data_offsets",
            )
    end = max((t.end for t in tensors.values()), default=0)
    if end != data_size:
        raise _error(
            path,
            "the data does not end where the file ends: extra bytes after the last tensor",
            found=f"{data_size} data bytes",
            expected=f"{end} (the last tensor's end)",
        )
    return SafetensorsHeader(path, size, header_len, tensors, dict(metadata))


def _entry(path: Path, name: str, entry: Any, data_size: int) -> SafeTensor:
    if len(name) > _MAX_NAME:
        raise _error(
            path, "a tensor name is too long", found=f"{len(name)} characters", expected=f"<= {_MAX_NAME}"
        )
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _error(
            path,
            f"tensor {name!r}: the entry is not {{dtype, shape, data_offsets}}",
            found=repr(entry)[:80],
            expected='{"dtype": "F32", "shape": [r, n], "data_offsets": [begin, end]}',
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise _error(
            path,
            f"tensor {name!r}: unknown dtype, so its size cannot be checked",
            found=repr(dtype),
            expected=f"one of {', '.join(DTYPE_BYTES)}",
        )
    if not _ints(shape, 0) or len(shape) > MAX_DIMS:
        raise _error(
            path,
            f"tensor {name!r}: the shape is not a list of non-negative whole numbers",
            found=repr(shape)[:80],
            expected=f"up to {MAX_DIMS} non-negative integers",
        )
    if not _ints(offsets, 0) or len(offsets) != 2 or offsets[0] > offsets[1]:
        raise _error(
            path,
            f"tensor {name!r}: data_offsets is not [begin, end] with begin <= end",
            found=repr(offsets)[:80],
            expected="[begin, end]",
        )
    begin, end = int(offsets[0]), int(offsets[1])
    want = math.prod(shape) * DTYPE_BYTES[dtype]
    if end - begin != want:
        raise _error(
            path,
            f"tensor {name!r}: its byte range does not match dtype x shape",
            found=f"{end - begin} bytes",
            expected=f"{want} bytes ({dtype}, shape {list(shape)})",
        )
    if end > data_size:
        raise _error(
            path,
            f"tensor {name!r}: its data lies beyond the end of the file, which was cut short",
            found=f"{data_size} data bytes in the file",
            expected=f"at least {end}",
        )
    return SafeTensor(name, dtype, tuple(int(d) for d in shape), begin, end)


def _ints(value: Any, minimum: int) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
    )


def _error(path: Path, message: str, *, found: str | None, expected: str | None) -> AdapterInvalid:
    return AdapterInvalid(
        message,
        path=str(path),
        check=CHECK,
        found=found,
        expected=expected,
        hint="Copy or download the adapter again (compare its size with the original), or re-save it "
        "with PEFT's save_pretrained.",
    )
