"""What each stored request-record field can hold: the one statement of those bounds.

The store's `requests` columns are sized from `RECORD_BOUNDS` (store/schema.py,
checked by a test), and the recorder uses `fit_record` on a record the
database refused, so that one odd value (a 201-character category, a token
count beyond PostgreSQL's 32-bit INTEGER, a NUL that PostgreSQL text cannot
hold, a NaN latency) costs that value its precision instead of costing the
record, or every record after it. The gateway's own limits on what clients
send are these too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from slipway.core.lifecycle import RequestInput
from slipway.core.records import RequestRecord

#: PostgreSQL's INTEGER (int4), the narrowest integer column on any backend slipway supports.
INT4_MIN = -(2**31)
INT4_MAX = 2**31 - 1

REQUEST_ID_MAX_CHARS = 200
SLOT_NAME_MAX_CHARS = 200
VERSION_MAX_CHARS = 400
API_MAX_CHARS = 64
CATEGORY_MAX_CHARS = 200
STICKY_KEY_MAX_CHARS = 400

Kind = Literal["text", "int", "float", "bool"]


@dataclass(frozen=True, slots=True)
class Bound:
    kind: Kind
    nullable: bool = False
    #: For text: the most characters the column holds (None: unbounded TEXT).
    max_chars: int | None = None


RECORD_BOUNDS: dict[str, Bound] = {
    "request_id": Bound("text", max_chars=REQUEST_ID_MAX_CHARS),
    "started_at": Bound("float"),
    "slot": Bound("text", max_chars=SLOT_NAME_MAX_CHARS),
    "version": Bound("text", max_chars=VERSION_MAX_CHARS),
    "api": Bound("text", max_chars=API_MAX_CHARS),
    "stream": Bound("bool"),
    "route_version": Bound("int"),
    "category": Bound("text", nullable=True, max_chars=CATEGORY_MAX_CHARS),
    "sticky_key": Bound("text", nullable=True, max_chars=STICKY_KEY_MAX_CHARS),
    "status": Bound("int"),
    "error": Bound("text", nullable=True),
    "latency_ms": Bound("float"),
    "ttft_ms": Bound("float", nullable=True),
    "output_chars": Bound("int"),
    "output_tokens": Bound("int", nullable=True),
    "output_head": Bound("text"),
    "aborted": Bound("bool"),
    "pinned": Bound("bool"),
}

_EMPTY: dict[Kind, Any] = {"text": "", "int": 0, "float": 0.0, "bool": False}


def _show(value: Any) -> str:
    """A value for a log line: a refused value may be megabytes long."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python will print
        return "a number too long to print"
    return text if len(text) <= 60 else f"{text[:57]}..."


def fit_record(record: RequestRecord) -> tuple[RequestRecord, tuple[str, ...]]:
    """The record with every value brought within its field's bound, and what had to change.

    Nothing changes for a value already within bounds, so an empty tuple means
    the database's refusal was not about the values.
    """
    changes: list[str] = []
    fixed: dict[str, Any] = {}
    for field in fields(record):
        bound = RECORD_BOUNDS[field.name]
        value = getattr(record, field.name)
        new = _fit(field.name, value, bound, changes)
        if new is not value:
            fixed[field.name] = new
    return (replace(record, **fixed) if fixed else record), tuple(changes)


def fit_input(item: RequestInput) -> tuple[RequestInput, tuple[str, ...]]:
    """What a request asked, brought within the `request_inputs` columns, and what had to change.

    Called only once the database refused the row. The text loses what
    PostgreSQL text cannot hold (NUL) and the turns are clamped to its INTEGER;
    the body, if any, is dropped, since whatever in it was refused is not worth
    the row (analysis reads the text; the body only replays the request).
    """
    changes: list[str] = []
    text = _fit_text("input_text", item.input_text, None, changes)
    turns = _fit_int("turns", item.turns, False, changes)
    if item.request is not None:
        changes.append("request body dropped")
    if not changes:
        return item, ()
    return replace(item, input_text=text, turns=1 if turns is None else turns, request=None), tuple(changes)


def _fit(name: str, value: Any, bound: Bound, changes: list[str]) -> Any:
    """`value` itself when it is within bounds (no change noted), else its nearest stored form."""
    before = len(changes)
    if value is None:
        if bound.nullable:
            return None
        changes.append(f"{name} was missing")
        return _EMPTY[bound.kind]
    new: Any
    if bound.kind == "text":
        new = _fit_text(name, value, bound.max_chars, changes)
    elif bound.kind == "int":
        new = _fit_int(name, value, bound.nullable, changes)
    elif bound.kind == "float":
        new = _fit_float(name, value, bound.nullable, changes)
    elif isinstance(value, bool):
        new = value
    else:
        changes.append(f"{name} was not true or false")
        new = bool(value)
    return value if len(changes) == before else new


def _fit_text(name: str, value: Any, max_chars: int | None, changes: list[str]) -> str:
    text = value if isinstance(value, str) else str(value)
    if text is not value:
        changes.append(f"{name} was not text")
    if "\x00" in text:
        text = text.replace("\x00", "")
        changes.append(f"{name}: NUL characters removed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
        changes.append(f"{name}: characters without a UTF-8 form replaced")
    if max_chars is not None and len(text) > max_chars:
        changes.append(f"{name} cut from {len(text)} to {max_chars} characters")
        text = text[:max_chars]
    return text


def _fit_int(name: str, value: Any, nullable: bool, changes: list[str]) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value):
        number = int(value)
        changes.append(f"{name} {_show(value)} rounded to {number}")
    else:
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            stored = None if nullable else 0
            changes.append(f"{name} {_show(value)} is not a whole number; stored as {stored}")
            return stored
        changes.append(f"{name} {_show(value)} read as {number}")
    clamped = min(max(number, INT4_MIN), INT4_MAX)
    if clamped != number:
        changes.append(f"{name} {_show(number)} clamped to {clamped}")
    return clamped


def _fit_float(name: str, value: Any, nullable: bool, changes: list[str]) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        stored = None if nullable else 0.0
        changes.append(f"{name} {_show(value)} is not a number; stored as {stored}")
        return stored
    if not math.isfinite(number):
        stored = None if nullable else 0.0
        changes.append(f"{name} {number} is not finite; stored as {stored}")
        return stored
    if not isinstance(value, float):
        changes.append(f"{name} {_show(value)} read as {number}")
    return number
