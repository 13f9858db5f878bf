"""Webhook bodies are signed, so a receiver can refuse a forged or replayed "rolled back" message.

Real parts: the in-process gateway on SQLite, sim backends, a webhook
receiver on loopback that keeps the raw body and headers. The signature is
checked here with the standard library, the way a receiver would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from tests.harness import live_gateway, routing_yaml, sim_backend, sim_profile
from tests.webhooks import webhook_receiver

KEY_ENV = "SLIPWAY_TEST_WEBHOOK_KEY"


def switch(url: str) -> None:
    r = httpx.post(f"{url}/admin/switch", json={"to": "green"}, headers={"x-slipway-actor": "ann"})
    assert r.status_code == 200, r.text


def test_every_body_carries_a_signature_the_receiver_can_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "s3cret-key")
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        webhook_receiver() as hook,
    ):
        notify = f'notify: {{webhooks: ["{hook.url}"], secret_env: {KEY_ENV}}}\n'
        with live_gateway(tmp_path, routing_yaml(blue, green, extra=notify), watch=False) as gw:
            switch(gw.url)
            hook.wait_for("route.switch")
        for headers, raw in hook.raw:
            stamp = headers["x-slipway-timestamp"]
            assert abs(int(stamp) - time.time()) < 600
            mac = hmac.new(b"s3cret-key", stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-slipway-signature"], f"v1={mac}")
            assert json.loads(raw)["slipway"]["event"] in ("route.config", "route.switch")
        # Another key, or the same body with another time, does not verify.
        headers, raw = hook.raw[-1]
        other = hmac.new(b"wrong", headers["x-slipway-timestamp"].encode() + b"." + raw, hashlib.sha256)
        assert headers["x-slipway-signature"] != f"v1={other.hexdigest()}"


def test_a_key_variable_that_is_unset_fails_the_delivery_instead_of_sending_it_unsigned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        webhook_receiver() as hook,
    ):
        notify = textwrap.dedent(
            f"""\
            notify: {{webhooks: ["{hook.url}"], secret_env: {KEY_ENV}, retry_for: 0s}}
            """
        )
        with live_gateway(tmp_path, routing_yaml(blue, green, extra=notify), watch=False) as gw:
            switch(gw.url)
            deadline = time.monotonic() + 15
            while True:
                rows = httpx.get(f"{gw.url}/admin/notifications").json()["deliveries"]
                if any(r["event"] == "route.switch" for r in rows) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        switched = next(r for r in rows if r["event"] == "route.switch")
        assert switched["outcome"] == "failed" and f"{KEY_ENV} is not set" in switched["error"], switched
        assert hook.raw == []
