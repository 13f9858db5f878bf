"""The call production and its shadow copy both make: same body, same headers but one, same engine lookup."""

from __future__ import annotations

import orjson
import pytest

from slipway.core.errors import NotFoundError, ValidationError
from slipway.core.lora import EngineInfo
from slipway.core.records import Api
from slipway.core.types import BackendKind, Slot
from slipway.gateway.exchanges import exchange_for
from slipway.gateway.upstream import engine_target, upstream_request

SLOT = Slot(name="green", endpoint="http://127.0.0.1:9", model="m", kind=BackendKind.LLAMACPP, adapter="a2")
BODY = {"model": "public", "messages": [{"role": "user", "content": "hi"}], "options": {"temperature": 0}}


async def _engine(slot: Slot) -> EngineInfo:
    return EngineInfo(url="http://127.0.0.1:4242", adapters=("/x/a1.gguf", "/x/a2.gguf"))


@pytest.mark.parametrize("shadow", [False, True])
def test_production_and_shadow_send_the_same_body_and_headers_but_one(
    shadow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPWAY_TEST_KEY", "sekrit")
    slot = SLOT.with_changes(api_key_env="SLIPWAY_TEST_KEY")
    exchange = exchange_for(Api.OLLAMA_CHAT, slot.kind)
    request = upstream_request(
        exchange, slot, BODY, True, None, request_id="r1", category="billing", shadow=shadow
    )
    assert request.url == "http://127.0.0.1:9/v1/chat/completions"
    assert orjson.loads(request.payload)["model"] == "m"
    expected = {
        "content-type": "application/json",
        "accept-encoding": "identity",
        "x-slipway-request-id": "r1",
        "x-slipway-category": "billing",
        "authorization": "Bearer sekrit",
    }
    if shadow:
        expected["x-slipway-shadow"] = "1"
    assert request.headers == expected


def test_no_key_in_the_environment_sends_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLIPWAY_TEST_KEY", raising=False)
    slot = SLOT.with_changes(api_key_env="SLIPWAY_TEST_KEY")
    request = upstream_request(
        exchange_for(Api.OPENAI_CHAT, slot.kind), slot, BODY, False, None, request_id="r", category=None
    )
    assert "authorization" not in request.headers and "x-slipway-category" not in request.headers


def test_what_the_backend_api_refuses_is_a_validation_error() -> None:
    body = {"model": "m", "messages": "not a list"}
    with pytest.raises(ValidationError):
        upstream_request(
            exchange_for(Api.OLLAMA_CHAT, SLOT.kind), SLOT, body, False, None, request_id="r", category=None
        )


async def test_a_llamacpp_slot_goes_where_its_engine_answers_with_its_adapter_chosen() -> None:
    slot, extras = await engine_target(SLOT, _engine)
    assert slot.endpoint == "http://127.0.0.1:4242"
    assert extras == {"lora": [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 1.0}]}


async def test_other_slots_and_gateways_without_engines_are_left_as_they_are() -> None:
    sim = SLOT.with_changes(kind=BackendKind.SIM)
    assert await engine_target(sim, _engine) == (sim, None)
    assert await engine_target(SLOT, None) == (SLOT, None)


@pytest.mark.parametrize(
    ("shadow", "where"), [(False, "slot 'green' (http://127.0.0.1:9)"), (True, "shadow slot")]
)
async def test_an_adapter_the_engine_did_not_load_names_the_slot(shadow: bool, where: str) -> None:
    with pytest.raises(NotFoundError, match=where.replace("(", r"\(").replace(")", r"\)")):
        await engine_target(SLOT.with_changes(adapter="a9"), _engine, shadow=shadow)
