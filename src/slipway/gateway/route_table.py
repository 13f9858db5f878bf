"""The gateway's in-memory route table, swapped atomically.

A request reads `holder.compiled` once and keeps that object; a switch replaces
the attribute in one assignment, so in-flight requests finish on the slot they
started on and new requests see the change at once.
"""

from __future__ import annotations

from collections.abc import Callable

from slipway.core.types import RouteTable
from slipway.gateway.routing import CompiledRoutes, compile_routes


class RouteHolder:
    """Implements the RoutePublisher port for the local process."""

    def __init__(self, table: RouteTable | None = None) -> None:
        self.compiled: CompiledRoutes | None = compile_routes(table) if table is not None else None
        self._listeners: list[Callable[[RouteTable], None]] = []

    @property
    def table(self) -> RouteTable | None:
        return self.compiled.table if self.compiled is not None else None

    def publish(self, table: RouteTable) -> None:
        # Never go backwards: a commit that finished late must not undo a newer one already published.
        if self.compiled is not None and table.version < self.compiled.table.version:
            return
        self.compiled = compile_routes(table)
        for listener in self._listeners:
            listener(table)

    def on_change(self, listener: Callable[[RouteTable], None]) -> None:
        self._listeners.append(listener)
