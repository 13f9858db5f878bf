"""What vLLM's Prometheus `/metrics` says about load: KV-cache use and requests per adapter.

A slot's health says whether its adapter is loaded; an operator deciding
whether to move traffic onto a shared vLLM also wants to know how busy it
is. vLLM exports (names as in vllm/v1/metrics/loggers.py):

* `vllm:kv_cache_usage_perc` — the KV cache in use, as a fraction (0..1);
* `vllm:num_requests_running` / `vllm:num_requests_waiting` — the server's queue;
* `vllm:lora_requests_info{running_lora_adapters, waiting_lora_adapters}` — a
  gauge set to the current time under the label set of that moment, so the
  series with the largest value is the current one; the labels are the
  comma-joined names of the adapters with running / waiting requests.

Only these lines are read, the text is bounded, and anything unparsable is
skipped: metrics are a hint shown beside the health, never a reason to
call a slot unhealthy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: vLLM's metrics page is a few hundred lines; anything longer is cut, not parsed.
MAX_METRICS_CHARS = 2_000_000
_LINE = re.compile(r"^(vllm:[a-z_]+)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class VllmLoad:
    kv_cache_usage: float | None = None
    running: int | None = None
    waiting: int | None = None
    running_adapters: frozenset[str] = frozenset()
    waiting_adapters: frozenset[str] = frozenset()

    def describe(self, adapter: str | None) -> str:
        """A short clause for a health detail; empty when vLLM reported nothing."""
        parts: list[str] = []
        if self.kv_cache_usage is not None:
            parts.append(f"KV cache {self.kv_cache_usage * 100:.0f}% used")
        if self.running is not None and self.waiting is not None:
            parts.append(f"{self.running} running / {self.waiting} waiting requests")
        if adapter is not None and (self.running_adapters or self.waiting_adapters or parts):
            state = (
                "running"
                if adapter in self.running_adapters
                else "waiting"
                if adapter in self.waiting_adapters
                else "idle"
            )
            parts.append(f"adapter {adapter!r} {state}")
        return "; ".join(parts)


def parse_vllm_metrics(text: str) -> VllmLoad:
    kv: float | None = None
    running = waiting = 0.0
    seen_running = seen_waiting = False
    latest = float("-inf")
    run_names: frozenset[str] = frozenset()
    wait_names: frozenset[str] = frozenset()
    for line in text[:MAX_METRICS_CHARS].splitlines():
        if not line.startswith("vllm:"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        name, labels, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            continue
        if name == "vllm:kv_cache_usage_perc":
            kv = max(kv or 0.0, value)
        elif name == "vllm:num_requests_running":
            running, seen_running = running + value, True
        elif name == "vllm:num_requests_waiting":
            waiting, seen_waiting = waiting + value, True
        elif name == "vllm:lora_requests_info" and value > latest:
            found = dict(_LABEL.findall(labels or ""))
            latest = value
            run_names = _names(found.get("running_lora_adapters", ""))
            wait_names = _names(found.get("waiting_lora_adapters", ""))
    return VllmLoad(
        kv_cache_usage=kv,
        running=int(running) if seen_running else None,
        waiting=int(waiting) if seen_waiting else None,
        running_adapters=run_names,
        waiting_adapters=wait_names,
    )


def _names(joined: str) -> frozenset[str]:
    return frozenset(n for n in joined.split(",") if n)
