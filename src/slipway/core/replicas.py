"""Replicas of `slipway serve` sharing one store, and which of them leads.

Every replica writes a `ReplicaBeat` to the store every few seconds; the ones
whose last beat is recent are the live replicas `slipway status` lists. One of
them at a time is the leader, the only one that runs the control loops
(canary, shadow). Each time leadership changes hands the store's leadership
epoch goes up by one, and a leader's transitions carry the epoch it was
elected with, so a former leader that was paused or cut off while another
took over has its changes refused instead of applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

#: Column sizes of the store's `replicas` table.
REPLICA_ID_MAX_CHARS = 200
REPLICA_HOST_MAX_CHARS = 255
REPLICA_URL_MAX_CHARS = 500
#: Column size of the leader's name in the store's `leadership` row (a replica id).
LEADER_HOLDER_MAX_CHARS = REPLICA_ID_MAX_CHARS


@dataclass(frozen=True, slots=True)
class ReplicaBeat:
    """One replica as it last reported itself; times are seconds since the epoch."""

    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    #: The version of the route table this replica's gateway applies.
    route_version: int
    #: Request records waiting in this replica's recorder, and how many it had to drop so far.
    records_queued: int
    records_dropped: int
    #: The epoch this replica leads under, or None when it is not the leader.
    leader_epoch: int | None = None
    #: Where this replica's admin API listens, if anyone else may call it.
    url: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a replica id must not be empty")
        for name, value, limit in (
            ("id", self.id, REPLICA_ID_MAX_CHARS),
            ("host", self.host, REPLICA_HOST_MAX_CHARS),
            ("url", self.url, REPLICA_URL_MAX_CHARS),
        ):
            if value is not None and len(value) > limit:
                raise ValueError(f"a replica's {name} holds at most {limit} characters, not {len(value)}")


class Leadership(NamedTuple):
    """The store's leadership record: the current epoch, who took office with it, and when.

    Epoch 0 with no holder means nobody has ever led this store.
    """

    epoch: int
    holder: str | None
    since: float | None
