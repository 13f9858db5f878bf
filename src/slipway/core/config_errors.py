"""A routing file's mistakes as ConfigErrors that name the field as it was written, and its line.

Validation sees the file after top-level slots were moved under `slots:`;
the error points back at where the operator wrote them.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from slipway.core.errors import ConfigError
from slipway.core.names import shown

#: Where each moved field came from: its path after normalizing, and the path as written.
Moved = Mapping[tuple[str, ...], tuple[str, ...]]
#: The line each field is written on, by its path in the file.
Lines = Mapping[tuple[str, ...], int]


def invalid_field(
    exc: PydanticValidationError, top_level: Collection[str], moved: Moved, lines: Lines, source: str
) -> ConfigError:
    """The first thing validation refused, as the ConfigError to raise: field, line, and a hint."""
    err = exc.errors()[0]
    loc = tuple(str(part) for part in err["loc"])
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
    if not loc:
        # Whole-model checks name their field (a dotted path) in the first word of the message.
        first = str(err["msg"]).removeprefix("Value error, ").split(" ", 1)[0].rstrip(":")
        if first.split(".")[0] in top_level:
            loc = tuple(first.split("."))
    original = _original(loc, moved)
    field = ".".join(original) or None
    message = str(err["msg"]).removeprefix("Value error, ")
    if field and message.startswith(field + ": "):
        message = message[len(field) + 2 :]
    if err["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
        hint = "check the spelling; see docs/config.md for every field"
    elif err["type"] == "missing":
        message = "required field is missing"
        hint = "add it; see docs/config.md"
    else:
        if err["type"] != "value_error" and isinstance(err.get("input"), str | int | float | bool):
            message += f" (found {shown(str(err['input']))})"
        hint = "see docs/config.md for the allowed values"
    line = _line(original, lines)
    return ConfigError(message, hint=hint, source=source, line=line, field=field)


def check_finite(data: Any, moved: Moved, lines: Lines, source: str) -> None:
    """Refuse the first NaN or infinity in the file (ConfigError), wherever it is written."""
    found = _non_finite(data)
    if found is not None:
        original = _original(found[0], moved)
        raise ConfigError(
            f"{found[1]} is not a finite number",
            hint="every number in a config file must be finite; see docs/config.md for each field's range",
            source=source,
            line=_line(original, lines),
            field=".".join(original),
        )


def _non_finite(data: Any, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...], float] | None:
    """The first NaN or infinity anywhere, free-form sections included (their models may not look)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where, value
        if isinstance(value, Mapping):
            stack.extend((v, (*where, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*where, str(i))) for i, v in enumerate(value))
    return None


def _original(loc: tuple[str, ...], moved: Moved) -> tuple[str, ...]:
    """Where a field was written, for top-level slots that were moved under `slots:`."""
    for prefix_len in range(len(loc), 0, -1):
        if loc[:prefix_len] in moved:
            return moved[loc[:prefix_len]] + loc[prefix_len:]
    return loc


def _line(path: tuple[str, ...], lines: Lines) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None
