"""A rollback's notification, with the postmortem's headline and the command that opens it.

The on-call engineer reads the rollback's message first; the postmortem's
headline ("v2.2 failed billing, mostly on inputs containing JSON") tells
them where to look before they open anything. The headline is asked of an
injected callable (the composition root's postmortem), and the message
waits for it at most `POSTMORTEM_WAIT_S`: a slow or failing analysis costs
the message its headline, never the message itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from slipway.core.errors import SlipwayError
from slipway.core.notifications import Notification

log = logging.getLogger("slipway.canary")

#: How long a rollback's notification waits for the postmortem's headline before going without it.
POSTMORTEM_WAIT_S = 5.0

Explain = Callable[[str], Awaitable[str]]


async def with_postmortem(
    note: Notification, deployment_id: str, explain: Explain | None, *, wait_s: float = POSTMORTEM_WAIT_S
) -> Notification:
    """`note` with the postmortem's headline (or, failing that, the command alone) and a `postmortem` fact."""
    command = f"slipway postmortem {deployment_id}"
    said = f"Postmortem: {command}"
    if explain is not None:
        try:
            said = await asyncio.wait_for(explain(deployment_id), wait_s)
        except (SlipwayError, TimeoutError) as exc:
            log.warning(
                "canary %s: no postmortem for the notification: %s", deployment_id, exc or "timed out"
            )
        except Exception:
            # A fault in the analysis must not cost the on-call engineer the rollback's message.
            log.exception("canary %s: the postmortem for the notification failed", deployment_id)
    return replace(note, text=f"{note.text}\n{said}".strip(), facts={**note.facts, "postmortem": command})
