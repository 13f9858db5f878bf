"""Which stored requests count as a slot's failure, in SQL: one definition for every judgment.

A request failed *for its slot* when it ended with an error status or an
error, unless that error says nothing about the slot (`NOT_THE_SLOTS_FAULT`:
the client left, or the gateway itself was overloaded or failed). Counting
those would let any client, or an attacker holding sockets open, roll back a
healthy candidate. For the same reason every judgment reads only `routed()`
requests: those the route table sent, not those a client pinned to a slot.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, not_, or_

from slipway.core.records import NOT_THE_SLOTS_FAULT
from slipway.store.schema import requests


def routed() -> ColumnElement[bool]:
    """The route table chose the request's slot: a request a client pinned (X-Slipway-Slot) is
    kept, but judging a slot by it would let any client make a candidate look worse or better."""
    return not_(requests.c.pinned)


def not_the_clients_or_gateways() -> ColumnElement[bool]:
    """The request's error, if any, is one its slot can be blamed for."""
    return or_(requests.c.error.is_(None), requests.c.error.not_in(NOT_THE_SLOTS_FAULT))


def slots_failure() -> ColumnElement[bool]:
    """The request failed, and the failure is its slot's."""
    return and_(
        or_(requests.c.status >= 400, requests.c.error.is_not(None)),
        not_the_clients_or_gateways(),
    )
