"""Which slot serves a request: a pure function of the compiled routes, a key and a draw.

Sticky keys hash into one of WEIGHT_SCALE buckets, so the same user lands on
the same slot for as long as the weights stay the same. Candidate slots
take the lowest buckets and the active slot the rest; when a canary ramps from
5 % to 25 %, everyone who already saw the candidate keeps seeing it.
"""

from __future__ import annotations

import hmac
import zlib
from dataclasses import dataclass

from slipway.core.types import WEIGHT_SCALE, RouteTable, Slot


@dataclass(frozen=True, slots=True)
class CompiledRoutes:
    """A route table compiled for the hot path: cumulative bucket bounds per slot."""

    table: RouteTable
    bounds: tuple[tuple[int, Slot], ...]
    single: Slot | None
    #: A running drill: (its token as bytes, the slot its requests are pinned to).
    drill: tuple[bytes, Slot] | None = None


def compile_routes(table: RouteTable) -> CompiledRoutes:
    weights = table.effective_weights()
    pin = table.drill
    drill = (pin.id.encode("utf-8"), table.slots[pin.slot]) if pin and pin.slot in table.slots else None
    if len(weights) == 1:
        (only,) = weights
        return CompiledRoutes(
            table=table, bounds=((WEIGHT_SCALE, table.slots[only]),), single=table.slots[only], drill=drill
        )
    order = sorted(name for name in weights if name != table.active) + [
        name for name in weights if name == table.active
    ]
    bounds: list[tuple[int, Slot]] = []
    upper = 0
    for name in order:
        upper += weights[name]
        bounds.append((upper, table.slots[name]))
    return CompiledRoutes(table=table, bounds=tuple(bounds), single=None, drill=drill)


def sticky_bucket(key: str) -> int:
    """A stable bucket in [0, WEIGHT_SCALE) for a sticky key (same across processes and restarts)."""
    return zlib.crc32(key.encode("utf-8")) % WEIGHT_SCALE


def pick(routes: CompiledRoutes, key: str | None, draw: float) -> Slot:
    """The slot for one request; `draw` is a uniform [0, 1) number used when there is no key."""
    if routes.single is not None:
        return routes.single
    bucket = sticky_bucket(key) if key else int(draw * WEIGHT_SCALE)
    for upper, slot in routes.bounds:
        if bucket < upper:
            return slot
    return routes.bounds[-1][1]


def drill_slot(routes: CompiledRoutes, token: str | None) -> Slot | None:
    """The drill's slot when `token` is the running drill's id; None (route as usual) for any other value.

    A wrong, stale or absent token is never an error and never picks a slot:
    the request is a user's like any other. Compared in constant time, so the
    token cannot be guessed a character at a time.
    """
    if token is None or routes.drill is None:
        return None
    secret, slot = routes.drill
    return slot if hmac.compare_digest(token.encode("utf-8"), secret) else None
