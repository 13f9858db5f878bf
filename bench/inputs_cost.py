"""What keeping each request's input costs in CPU, without the noise of a loaded machine's HTTP path.

    python bench/inputs_cost.py [--records 20000]

Two parts of the cost, per request, for the short body of the gateway
benchmarks and a ~2 KB three-turn conversation (`gateway.CONVERSATION_BODY`):

* the request path: `gateway.inputs.request_input` (flatten the messages,
  cut the text, keep the body when small), timed over 10,000 calls;
* the write: `Store.write_records` in batches of 1,000 on a fresh SQLite
  store, records alone against records with their inputs (process CPU time,
  the writer thread included).

`bench/gateway.py inputs` measures the whole gateway with and without; this
separates what is added where.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REQUEST_BODY
from gateway import CONVERSATION_BODY

from slipway.core.records import Api, RequestRecord
from slipway.gateway.inputs import request_input
from slipway.store import default_store_url, open_store

BATCH = 1_000


def record(i: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"{i:024x}", started_at=1.8e9 + i, slot="blue", version="v2.1", api="openai.chat",
        stream=False, route_version=1, status=200, latency_ms=1.0, output_chars=7, output_head="billing",
    )  # fmt: skip


async def write_cost(raw: str, records: int, with_inputs: bool) -> float:
    """Microseconds of process CPU per request to write `records` records (and their inputs)."""
    body = json.loads(raw)
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(default_store_url(Path(tmp)))
        began = time.process_time()
        for start in range(0, records, BATCH):
            batch = [record(i) for i in range(start, start + BATCH)]
            inputs = [
                request_input(r.request_id, Api.OPENAI_CHAT, body, max_chars=4000, raw=raw.encode())
                for r in batch
                if with_inputs
            ]
            await store.write_records(batch, inputs=inputs)
        spent = time.process_time() - began
        await store.close()
    return spent / records * 1e6


def path_cost(raw: str, calls: int = 10_000) -> float:
    body = json.loads(raw)
    began = time.process_time()
    for i in range(calls):
        request_input(f"{i:024x}", Api.OPENAI_CHAT, body, max_chars=4000, raw=raw.encode())
    return (time.process_time() - began) / calls * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    print(f"# {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    for name, raw in (("short", REQUEST_BODY), ("conversation", CONVERSATION_BODY)):
        row: dict[str, Any] = {
            "body": name,
            "body_bytes": len(raw),
            "request_path_us": round(path_cost(raw), 2),
        }
        row["write_records_only_us"] = round(await write_cost(raw, args.records, False), 2)
        row["write_with_inputs_us"] = round(await write_cost(raw, args.records, True), 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
