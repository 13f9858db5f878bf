"""GET /metrics scraped the way Prometheus does, after real traffic through the gateway (OP3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
from openai.types.chat import ChatCompletionMessageParam
from prometheus_client.parser import text_string_to_metric_families
from tests.harness import Gateway, live_gateway, routing_yaml

WEIGHTED = "weights: {blue: 80, green: 20}\n"


def scrape(url: str, token: str | None = None) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(f"{url}/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(r.text)
    }


def total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))


def test_traffic_per_slot_latency_and_the_split_are_scraped(
    tmp_path: Path, blue_url: str, green_url: str
) -> None:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url, extra=WEIGHTED)) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        gw.closers.append(client.close)
        for i in range(60):
            messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "refund"}]
            if i % 3:
                client.chat.completions.create(model="m", user=f"user-{i}", messages=messages)
            else:
                stream = client.chat.completions.create(
                    model="m",
                    user=f"user-{i}",
                    messages=messages,
                    stream=True,
                )
                assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        httpx.post(f"{gw.url}/v1/chat/completions", content=b"{broken")  # a 400: never reaches a slot

        m = scrape(gw.url)

        requests = m["slipway_requests"]
        blue = total(requests, "slipway_requests_total", slot="blue", code="200")
        green = total(requests, "slipway_requests_total", slot="green", code="200")
        assert blue + green == 60 and blue > green > 0
        v21 = total(requests, "slipway_requests_total", api="openai.chat", version="customer-support-v2.1")
        assert v21 == blue
        latency = m["slipway_request_duration_seconds"]
        assert total(latency, "slipway_request_duration_seconds_count") == 60
        assert total(latency, "slipway_request_duration_seconds_bucket", slot="blue", le="+Inf") == blue
        assert 0 < total(latency, "slipway_request_duration_seconds_sum") < 60
        ttft = m["slipway_time_to_first_token_seconds"]
        assert total(ttft, "slipway_time_to_first_token_seconds_count") == 60
        weights = {lab["slot"]: v for _n, lab, v in m["slipway_slot_weight_ratio"]}
        assert weights == {"blue": 0.8, "green": 0.2}
        assert {lab["slot"]: v for _n, lab, v in m["slipway_slot_active"]} == {"blue": 1.0, "green": 0.0}
        assert m["slipway_route_version"][0][2] >= 1
        assert total(m["slipway_build_info"], "slipway_build_info") == 1
        assert m["slipway_canary_weight_ratio"][0][2] == 0.0

        # A rollback shows in the next scrape: the split and the route version move.
        version = m["slipway_route_version"][0][2]
        assert httpx.post(f"{gw.url}/admin/switch", json={"to": "green"}).status_code == 200
        after = scrape(gw.url)
        assert {lab["slot"]: v for _n, lab, v in after["slipway_slot_weight_ratio"]} == {
            "blue": 0.0,
            "green": 1.0,
        }
        assert after["slipway_route_version"][0][2] > version
        records = after["slipway_recorder_records"]
        assert total(records, "slipway_recorder_records_total", outcome="written") <= 60
        assert total(records, "slipway_recorder_records_total", outcome="dropped") == 0


def test_metrics_need_the_admin_token_when_one_is_set(tmp_path: Path, blue_url: str, green_url: str) -> None:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url), token="s3cret") as gw:
        assert httpx.get(f"{gw.url}/metrics").status_code == 401
        assert "slipway_route_version" in scrape(gw.url, token="s3cret")


def test_a_fresh_gateway_exposes_its_state_before_any_traffic(gateway: Gateway) -> None:
    m = scrape(gateway.url)
    assert m["slipway_requests"] == []
    assert total(m["slipway_recorder_records"], "slipway_recorder_records_total") == 0
    assert m["slipway_in_flight_requests"][0][2] == 0
