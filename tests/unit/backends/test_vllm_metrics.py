"""Reading vLLM's /metrics: the current LoRA label set wins, unknown or broken lines are skipped."""

from __future__ import annotations

from slipway.backends.vllm_metrics import VllmLoad, parse_vllm_metrics

# The shape vLLM 0.32 writes (lines as served by a real server, values changed).
PAGE = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 3.0
vllm:num_requests_waiting{engine="0",model_name="tiny"} 1.0
vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} 0.25
vllm:lora_requests_info{max_lora="2",running_lora_adapters="cs-v2.1",waiting_lora_adapters=""} 1.79e+09
vllm:lora_requests_info{max_lora="2",running_lora_adapters="v22,cs-v2.1",waiting_lora_adapters="x"} 1.80e+09
vllm:lora_requests_info{max_lora="2",running_lora_adapters="",waiting_lora_adapters=""} 1.78e+09
vllm:broken_line{ nonsense
vllm:num_requests_running{engine="1"} not-a-number
"""


def test_the_latest_lora_label_set_and_the_queue_are_read() -> None:
    load = parse_vllm_metrics(PAGE)
    assert load == VllmLoad(
        kv_cache_usage=0.25,
        running=3,
        waiting=1,
        running_adapters=frozenset({"cs-v2.1", "v22"}),
        waiting_adapters=frozenset({"x"}),
    )
    assert load.describe("v22") == "KV cache 25% used; 3 running / 1 waiting requests; adapter 'v22' running"
    assert load.describe("x").endswith("adapter 'x' waiting")
    assert load.describe("other").endswith("adapter 'other' idle")
    assert load.describe(None) == "KV cache 25% used; 3 running / 1 waiting requests"


def test_a_page_without_vllm_metrics_says_nothing() -> None:
    load = parse_vllm_metrics("# nothing here\nprocess_cpu_seconds_total 1.0\n")
    assert load == VllmLoad() and load.describe("cs-v2.1") == ""
