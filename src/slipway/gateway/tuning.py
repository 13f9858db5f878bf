"""Process settings the gateway's tail latency depends on; applied once by `slipway serve`.

CPython's cycle collector walks every tracked object on a full (oldest
generation) collection. After start-up that is over 100,000 objects (FastAPI,
pydantic, SQLAlchemy, aiohttp, uvicorn), 30–90 ms on a small VM, and the
gateway triggers full collections steadily: request records wait up to a flush
interval in the recorder's queue, live long enough to reach the oldest
generation, and each 25 % growth of it starts one. While it runs, no request
moves. `gc.freeze()` after start-up moves what exists then into a permanent
generation the collector skips, so a full collection only walks what was
allocated since. Measured with bench/gateway.py (docs/benchmarks.md): at 64
connections p99 88 → 19 ms and +20 % requests/s; one in flight, p99 11 → 4 ms.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then keep everything alive now out of later collections. Call after start-up."""
    gc.collect()
    gc.freeze()
