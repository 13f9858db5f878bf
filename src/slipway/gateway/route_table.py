"""The gateway's in-memory route table, swapped atomically.

A request reads `holder.plan` once and keeps that object; a switch replaces
the attribute in one assignment, so in-flight requests finish on the slot they
started on and new requests see the change at once.
"""

from __future__ import annotations

from collections.abc import Callable

from slipway.core.types import RouteTable
from slipway.gateway.routing import RoutePlan, compile_plan


class RouteHolder:
    """Implements the RoutePublisher port for the local process."""

    def __init__(self, table: RouteTable | None = None) -> None:
        self.plan: RoutePlan | None = compile_plan(table) if table is not None else None
        self._listeners: list[Callable[[RouteTable], None]] = []

    @property
    def table(self) -> RouteTable | None:
        return self.plan.table if self.plan is not None else None

    def publish(self, table: RouteTable) -> None:
        # Never go backwards: a late NOTIFY from a peer must not undo a newer local commit.
        if self.plan is not None and table.version < self.plan.table.version:
            return
        self.plan = compile_plan(table)
        for listener in self._listeners:
            listener(table)

    def on_change(self, listener: Callable[[RouteTable], None]) -> None:
        self._listeners.append(listener)
