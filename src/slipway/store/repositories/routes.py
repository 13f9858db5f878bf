"""The route table (one row) and its history, under optimistic concurrency.

Two operators, or an operator and the controller, may both read version N and
try to commit N+1. The commit is `UPDATE ... WHERE version = N`: exactly one
of them matches a row, the other gets `ConflictError` and must reload. The
history row is written in the same transaction, so history and table never
disagree. On PostgreSQL the same transaction notifies `ROUTES_CHANNEL`, so
every replica listening hears of the new version the moment it commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from sqlalchemy import Connection, Row, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from slipway.core.errors import ConflictError, StoreError
from slipway.core.types import BackendKind, DrillPin, RouteChange, RouteChangeKind, RouteTable, Slot
from slipway.store.schema import ROUTE_TABLE_ROW_ID, route_changes, route_table

_SLOT_FIELDS = tuple(f.name for f in fields(Slot))

#: The PostgreSQL notification channel a route commit announces its version on.
ROUTES_CHANNEL = "slipway_routes"


def slot_to_json(slot: Slot) -> dict[str, Any]:
    data = {name: getattr(slot, name) for name in _SLOT_FIELDS}
    data["kind"] = str(slot.kind)
    return data


def slot_from_json(data: Mapping[str, Any]) -> Slot:
    # Ignore keys a newer slipway may have added, rather than refusing to start.
    known = {name: data[name] for name in _SLOT_FIELDS if name in data}
    known["kind"] = BackendKind(known.get("kind", BackendKind.OPENAI))
    return Slot(**known)


def load(connection: Connection) -> RouteTable | None:
    row = connection.execute(select(route_table).where(route_table.c.id == ROUTE_TABLE_ROW_ID)).first()
    if row is None:
        return None
    slots = [slot_from_json(item) for item in row.slots]
    return RouteTable(
        version=row.version,
        slots={slot.name: slot for slot in slots},
        active=row.active,
        weights={name: int(weight) for name, weight in row.weights.items()},
        previous_active=row.previous_active,
        name=row.name,
        mirror=row.mirror,
        mirror_bp=int(row.mirror_bp or 0),
        mirror_run=row.mirror_run,
        drill=drill_from_json(row.drill),
    )


def drill_to_json(pin: DrillPin | None) -> dict[str, Any] | None:
    if pin is None:
        return None
    return {"id": pin.id, "slot": pin.slot, "actor": pin.actor, "started_at": pin.started_at}


def drill_from_json(data: Mapping[str, Any] | None) -> DrillPin | None:
    """The stored pin; an unreadable one counts as none (it only ever routes a drill's own requests)."""
    if (
        not isinstance(data, Mapping)
        or not isinstance(data.get("id"), str)
        or not isinstance(data.get("slot"), str)
    ):
        return None
    started = data.get("started_at")
    return DrillPin(
        id=data["id"],
        slot=data["slot"],
        actor=str(data.get("actor") or ""),
        started_at=float(started) if isinstance(started, int | float) else 0.0,
    )


def commit(
    connection: Connection, table: RouteTable, *, expected_version: int, change: RouteChange
) -> RouteTable:
    for key, slot in table.slots.items():
        if key != slot.name:
            raise StoreError(
                f"route table maps key {key!r} to a slot named {slot.name!r}",
                hint="Key every slot by its own name before committing the table.",
            )
    new_version = expected_version + 1
    values = {
        "version": new_version,
        "active": table.active,
        "previous_active": table.previous_active,
        "name": table.name,
        "mirror": table.mirror,
        "mirror_bp": table.mirror_bp,
        "mirror_run": table.mirror_run,
        "drill": drill_to_json(table.drill),
        "weights": dict(table.weights),
        "slots": [slot_to_json(slot) for slot in table.slots.values()],
        "updated_at": change.at,
    }
    if expected_version == 0:
        _insert_first(connection, values)
    else:
        changed = connection.execute(
            update(route_table)
            .where(route_table.c.id == ROUTE_TABLE_ROW_ID, route_table.c.version == expected_version)
            .values(**values)
        )
        if changed.rowcount != 1:
            raise _conflict(expected_version, _current_version(connection))
    connection.execute(
        insert(route_changes).values(
            version=new_version,
            at=change.at,
            kind=str(change.kind),
            from_active=change.from_active,
            to_active=change.to_active,
            actor=change.actor,
            reason=change.reason,
            from_weights=dict(change.from_weights),
            to_weights=dict(change.to_weights),
        )
    )
    if connection.dialect.name == "postgresql":
        # Delivered to every listening replica when (and only if) this transaction commits. Channels
        # are per database: the schema in the payload keeps installations in other schemas apart.
        connection.execute(
            text("SELECT pg_notify(:channel, current_schema() || ':' || :version)"),
            {"channel": ROUTES_CHANNEL, "version": str(new_version)},
        )
    return replace(table, version=new_version)


def version(connection: Connection) -> int:
    """The committed route table's version (0 on a fresh store): one indexed row, cheap to poll."""
    return _current_version(connection)


def history(connection: Connection, limit: int) -> list[RouteChange]:
    query = select(route_changes).order_by(route_changes.c.version.desc()).limit(limit)
    return [_change_from_row(row) for row in connection.execute(query)]


def _insert_first(connection: Connection, values: dict[str, Any]) -> None:
    current = _current_version(connection)
    if current != 0:
        raise _conflict(0, current)
    try:
        # A savepoint, so that on PostgreSQL losing the race leaves the
        # transaction usable for reading the winner's version.
        with connection.begin_nested():
            connection.execute(insert(route_table).values(id=ROUTE_TABLE_ROW_ID, **values))
    except IntegrityError:
        raise _conflict(0, _current_version(connection)) from None


def _current_version(connection: Connection) -> int:
    version = connection.execute(
        select(route_table.c.version).where(route_table.c.id == ROUTE_TABLE_ROW_ID)
    ).scalar_one_or_none()
    return int(version) if version is not None else 0


def _conflict(expected: int, current: int) -> ConflictError:
    return ConflictError(f"route table changed since version {expected} (now {current}); reload and retry")


def _change_from_row(row: Row[Any]) -> RouteChange:
    return RouteChange(
        version=row.version,
        at=row.at,
        kind=RouteChangeKind(row.kind),
        from_active=row.from_active,
        to_active=row.to_active,
        actor=row.actor,
        reason=row.reason,
        from_weights={name: int(w) for name, w in row.from_weights.items()},
        to_weights={name: int(w) for name, w in row.to_weights.items()},
    )
