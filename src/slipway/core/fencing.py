"""The leader's epoch, carried by every store write its control loops make.

Only the leader runs the control loops (canary, shadow). If it is paused or
cut off while another replica takes over, a write it was about to make must
be refused rather than applied over the new leader's. A loop started under
epoch N sets `leader_epoch` to N for its whole task; the store checks the
epoch inside each write transaction made in that context and refuses the
write once the store's epoch has moved on. Writes outside a loop (an
operator's command, the request recorder) carry no epoch: they are not a
leader's, and optimistic revisions already order them.
"""

from __future__ import annotations

from contextvars import ContextVar

#: The epoch the running control loop leads under; None outside a leader's loop.
leader_epoch: ContextVar[int | None] = ContextVar("slipway_leader_epoch", default=None)
