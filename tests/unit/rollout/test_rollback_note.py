"""A rollback's message carries the postmortem's headline, or at least the command, and is never lost."""

from __future__ import annotations

import asyncio
import logging

import pytest

from slipway.core.errors import StoreUnavailable
from slipway.core.notifications import Notification, Severity
from slipway.rollout.rollback_note import Explain, with_postmortem

NOTE = Notification(
    "canary.rolled_back", "canary v2.2 rolled back at 5%", Severity.CRITICAL, "All traffic is on blue."
)


async def headline(deployment_id: str) -> str:
    return f"Postmortem: v2.2 failed billing. Open it with: slipway postmortem {deployment_id}"


async def store_down(_deployment_id: str) -> str:
    raise StoreUnavailable("the store does not answer")


async def broken(_deployment_id: str) -> str:
    raise KeyError("a bug in the analysis")


async def never(_deployment_id: str) -> str:
    await asyncio.Event().wait()
    return "unreachable"


async def test_the_headline_follows_the_message_with_the_command_as_a_fact() -> None:
    note = await with_postmortem(NOTE, "dep-1", headline)
    assert note.text == (
        "All traffic is on blue.\nPostmortem: v2.2 failed billing. Open it with: slipway postmortem dep-1"
    )
    assert note.facts["postmortem"] == "slipway postmortem dep-1" and note.title == NOTE.title


@pytest.mark.parametrize("explain", [None, store_down, broken, never])
async def test_without_a_headline_the_message_still_goes_with_the_command(
    explain: Explain | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "slipway.canary")
    note = await with_postmortem(NOTE, "dep-1", explain, wait_s=0.05)
    assert note.text == "All traffic is on blue.\nPostmortem: slipway postmortem dep-1"
    if explain is not None:
        assert "dep-1" in caplog.text  # said in the log, not swallowed
