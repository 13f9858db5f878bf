"""Support tickets through the gateway for the after-rollback stories: v2.2 fails billing tickets with JSON.

The candidate in these stories is fine on short billing tickets and on
shipping, and wrong on most billing tickets with a pasted JSON invoice: the
postmortem must name billing and inputs containing JSON, and a later version
with the same flaw must meet the cases its failures became.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from tests.harness import Gateway

#: v2.2 gets billing tickets with a JSON invoice in them wrong 90 % of the time.
FAILS_ON_JSON = """\
patterns:
  - match: '\\{"invoice"'
    accuracy: 0.1
"""
EMAIL = r"[\w.+-]+@[\w-]+\.\w+"


def ticket(i: int) -> tuple[str, str]:
    """(category, text): half billing, most billing tickets with a JSON invoice (one of ten).

    Each sender's e-mail address is their own, so once it is redacted the
    billing tickets repeat: regression cases must be deduplicated.
    """
    n = i % 10
    if i % 2:
        return "shipping", f"where is my parcel, order #{i}"
    if i % 8 == 0:
        return "billing", f"please refund order #{n}, mail me at ann{i}@example.com"
    note = "<script>alert(1)</script>" if n == 4 else "charged twice"
    return "billing", f'refund please ({note}), mail ann{i}@example.com: {{"invoice": {n}, "total": 9.99}}'


async def send_tickets(
    gw: Gateway, n: int, *, labels: bool = True
) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    """`n` chats through the gateway, labelled by feedback when `labels`: (per slot, bodies by id)."""
    served: dict[str, int] = {}
    bodies: dict[str, dict[str, Any]] = {}
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:

        async def one(i: int) -> None:
            category, text = ticket(i)
            body = {"model": "m", "user": f"cust-{i % 50}", "messages": [{"role": "user", "content": text}]}
            async with gate:
                r = await client.post(
                    "/v1/chat/completions", headers={"x-slipway-category": category}, json=body
                )
                assert r.status_code == 200, r.text
                rid = r.headers["x-slipway-request-id"]
                served[r.headers["x-slipway-slot"]] = served.get(r.headers["x-slipway-slot"], 0) + 1
                bodies[rid] = body
                if labels:
                    fb = await client.post("/v1/feedback", json={"request_id": rid, "label": category})
                    assert fb.status_code == 200, fb.text

        await asyncio.gather(*(one(i) for i in range(n)))
    return served, bodies
