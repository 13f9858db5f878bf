"""What requests asked: written with their records, read by id for postmortems and regressions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, select

from slipway.core.lifecycle import RequestBody, RequestInput
from slipway.store.repositories import bulk
from slipway.store.schema import request_inputs

_COLUMNS = ("request_id", "input_text", "turns", "request")

#: Ids per IN (...) query: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


def write(connection: Connection, inputs: Sequence[RequestInput]) -> None:
    """Insert inputs whose request id is not stored yet (a retried batch must not fail on its own rows).

    Written with the records of every batch the gateway writes, so on the
    driver's own cursor (`bulk`), the body as the JSON the client sent (or
    serialised by orjson): through SQLAlchemy's per-row processing it cost
    the gateway a tenth of its throughput.
    """
    rows = [(i.request_id, i.input_text, i.turns, _body(i.request)) for i in inputs]
    bulk.insert_skipping_known(connection, "request_inputs", _COLUMNS, "request_id", rows)


def _body(request: Mapping[str, Any] | None) -> str | None:
    """The body as JSON text; None when it cannot be (a key that is not text, an integer beyond 64 bits).

    A `RequestBody` is written as the JSON the client sent (valid UTF-8: the gateway parsed it).
    """
    if request is None:
        return None
    if isinstance(request, RequestBody):
        return request.raw.decode("utf-8", "replace")
    try:
        return orjson.dumps(request).decode()
    except (TypeError, orjson.JSONEncodeError):
        return None


def read(connection: Connection, request_ids: Iterable[str]) -> dict[str, RequestInput]:
    """The stored inputs of these requests, by id; a request without one is absent."""
    ids = list(dict.fromkeys(request_ids))
    found: dict[str, RequestInput] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in connection.execute(select(request_inputs).where(request_inputs.c.request_id.in_(chunk))):
            found[row.request_id] = RequestInput(
                request_id=row.request_id,
                input_text=row.input_text,
                turns=int(row.turns),
                request=row.request,
            )
    return found
