"""How a client API meets a backend kind: which path and framing, when the request is translated, and
the body the backend is sent (the slot's model, the stream flag, extras)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from slipway.core.errors import ValidationError
from slipway.core.records import Api
from slipway.core.types import BackendKind, Slot
from slipway.gateway import request_bodies, responses
from slipway.gateway.exchanges import Exchange, exchange_for, upstream_body

OLLAMA_APIS = [Api.OLLAMA_CHAT, Api.OLLAMA_GENERATE]
OPENAI_APIS = [Api.OPENAI_CHAT, Api.OPENAI_COMPLETIONS]
OPENAI_SPEAKERS = [kind for kind in BackendKind if kind is not BackendKind.OLLAMA]

SLOT = Slot("green", "http://127.0.0.1:2", "cs-v2.2", kind=BackendKind.LLAMACPP, upstream_model="base.gguf")
PLAIN_SLOT = Slot("blue", "http://127.0.0.1:1", "cs-v2.1")
CHAT = {"model": "cs", "messages": [{"role": "user", "content": "hi"}]}
BODIES: dict[Api, dict[str, Any]] = {
    Api.OPENAI_CHAT: CHAT,
    Api.OLLAMA_CHAT: CHAT,
    Api.OPENAI_COMPLETIONS: {"model": "cs", "prompt": "hi"},
    Api.OLLAMA_GENERATE: {"model": "cs", "prompt": "hi"},
}

# ---------------------------------------------------------------- exchange_for


@pytest.mark.parametrize(
    ("api", "path", "framing"),
    [
        (Api.OPENAI_CHAT, "/v1/chat/completions", "sse"),
        (Api.OPENAI_COMPLETIONS, "/v1/completions", "sse"),
        (Api.OLLAMA_CHAT, "/api/chat", "ndjson"),
        (Api.OLLAMA_GENERATE, "/api/generate", "ndjson"),
    ],
)
def test_an_ollama_backend_is_spoken_to_in_the_clients_own_api(api: Api, path: str, framing: str) -> None:
    ex = exchange_for(api, BackendKind.OLLAMA)
    assert (ex.api, ex.upstream_path, ex.upstream_framing, ex.upstream_api) == (api, path, framing, api)
    assert not ex.translates and ex.to_upstream is None and ex.from_upstream is None


@pytest.mark.parametrize("kind", list(BackendKind))
@pytest.mark.parametrize(
    ("api", "path"), [(Api.OPENAI_CHAT, "/v1/chat/completions"), (Api.OPENAI_COMPLETIONS, "/v1/completions")]
)
def test_openai_clients_are_never_translated(api: Api, path: str, kind: BackendKind) -> None:
    # Ollama serves the OpenAI API under /v1 too.
    ex = exchange_for(api, kind)
    assert (ex.upstream_path, ex.upstream_framing, ex.upstream_api, ex.translates) == (
        path,
        "sse",
        api,
        False,
    )


@pytest.mark.parametrize("kind", OPENAI_SPEAKERS)
@pytest.mark.parametrize(
    ("api", "path", "upstream_api", "to_upstream", "from_upstream"),
    [
        (
            Api.OLLAMA_CHAT,
            "/v1/chat/completions",
            Api.OPENAI_CHAT,
            request_bodies.ollama_chat_to_openai,
            responses.openai_chat_response_to_ollama,
        ),
        (
            Api.OLLAMA_GENERATE,
            "/v1/completions",
            Api.OPENAI_COMPLETIONS,
            request_bodies.ollama_generate_to_openai,
            responses.openai_completion_response_to_ollama,
        ),
    ],
)
def test_an_ollama_client_in_front_of_an_openai_server_is_translated(
    kind: BackendKind, api: Api, path: str, upstream_api: Api, to_upstream: Any, from_upstream: Any
) -> None:
    ex = exchange_for(api, kind)
    assert (ex.api, ex.upstream_path, ex.upstream_framing, ex.upstream_api) == (
        api,
        path,
        "sse",
        upstream_api,
    )
    assert ex.translates
    assert (ex.to_upstream, ex.from_upstream) == (to_upstream, from_upstream)


@pytest.mark.parametrize(("api", "kind"), list(itertools.product(Api, BackendKind)))
def test_every_api_meets_every_backend_kind_consistently(api: Api, kind: BackendKind) -> None:
    ex = exchange_for(api, kind)
    assert ex.api is api
    assert ex.translates is (api in OLLAMA_APIS and kind.speaks_openai())
    # Both directions translate, or neither does.
    assert (ex.to_upstream is None) is (ex.from_upstream is None)
    # The path says the upstream's API, and the API says its framing.
    assert ex.upstream_path.startswith("/api/") is (ex.upstream_api in OLLAMA_APIS)
    assert ex.upstream_framing == ("ndjson" if ex.upstream_api in OLLAMA_APIS else "sse")


@pytest.mark.parametrize("kind", list(BackendKind))
@pytest.mark.parametrize("api", list(Api))
def test_the_client_is_answered_in_its_own_framing_whatever_the_backend_speaks(
    api: Api, kind: BackendKind
) -> None:
    assert exchange_for(api, kind).client_framing() == ("ndjson" if api in OLLAMA_APIS else "sse")


def test_an_exchange_cannot_be_changed_in_place() -> None:
    ex = exchange_for(Api.OLLAMA_CHAT, BackendKind.VLLM)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.upstream_path = "/elsewhere"  # type: ignore[misc]
    assert exchange_for(Api.OLLAMA_CHAT, BackendKind.VLLM).upstream_path == "/v1/chat/completions"


def test_an_exchange_built_by_hand_translates_only_with_a_request_translator() -> None:
    plain = Exchange(Api.OPENAI_CHAT, "/v1/chat/completions", "sse", Api.OPENAI_CHAT)
    assert not plain.translates
    assert Exchange(Api.OLLAMA_CHAT, "/x", "sse", Api.OPENAI_CHAT, to_upstream=dict).translates


# ---------------------------------------------------------------- upstream_body: pass-through


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("api", "kind"),
    [(api, BackendKind.OLLAMA) for api in Api] + [(api, BackendKind.VLLM) for api in OPENAI_APIS],
)
def test_a_passed_through_body_keeps_every_field_but_model_and_stream(
    api: Api, kind: BackendKind, stream: bool
) -> None:
    body = {**BODIES[api], "temperature": 0.2, "x-vendor": {"keep": [1, "é"]}, "stream": not stream}
    out = upstream_body(exchange_for(api, kind), body, SLOT, stream)
    assert out == {**body, "model": "base.gguf", "stream": stream}
    assert "stream_options" not in out  # only a translated stream asks for usage


def test_the_model_sent_is_the_slots_backend_model() -> None:
    ex = exchange_for(Api.OPENAI_CHAT, BackendKind.OPENAI)
    assert upstream_body(ex, CHAT, SLOT, False)["model"] == "base.gguf"  # the upstream model when set
    assert upstream_body(ex, CHAT, PLAIN_SLOT, False)["model"] == "cs-v2.1"  # else the slot's model
    assert (
        upstream_body(ex, {"messages": []}, PLAIN_SLOT, False)["model"] == "cs-v2.1"
    )  # even when none was sent


@pytest.mark.parametrize(
    ("api", "kind"), [(Api.OPENAI_CHAT, BackendKind.VLLM), (Api.OLLAMA_CHAT, BackendKind.VLLM)]
)
def test_the_clients_body_is_not_changed(api: Api, kind: BackendKind) -> None:
    body = {"model": "cs", "messages": [{"role": "user", "content": "hi"}], "options": {"temperature": 0}}
    before = {"model": "cs", "messages": [{"role": "user", "content": "hi"}], "options": {"temperature": 0}}
    upstream_body(exchange_for(api, kind), body, SLOT, True, {"lora": [{"id": 0, "scale": 1.0}]})
    assert body == before


def test_an_openai_clients_own_stream_options_are_left_as_sent() -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": False}}
    out = upstream_body(exchange_for(Api.OPENAI_CHAT, BackendKind.LLAMACPP), body, SLOT, True)
    assert out["stream_options"] == {"include_usage": False}


# ---------------------------------------------------------------- upstream_body: extras


def test_extras_are_added_and_win_over_the_body() -> None:
    lora = [{"id": 2, "scale": 1.0}]
    body = {**CHAT, "lora": [{"id": 0, "scale": 0.5}], "seed": 7}
    out = upstream_body(
        exchange_for(Api.OPENAI_CHAT, BackendKind.LLAMACPP), body, SLOT, False, {"lora": lora}
    )
    assert out["lora"] == lora and out["seed"] == 7


def test_extras_cannot_change_the_model_or_the_stream_flag() -> None:
    extras = {"model": "elsewhere", "stream": True, "lora": []}
    out = upstream_body(exchange_for(Api.OPENAI_CHAT, BackendKind.LLAMACPP), CHAT, SLOT, False, extras)
    assert (out["model"], out["stream"], out["lora"]) == ("base.gguf", False, [])


@pytest.mark.parametrize("api", list(Api))
def test_no_extras_and_empty_extras_send_the_same_body(api: Api) -> None:
    ex = exchange_for(api, BackendKind.LLAMACPP)
    assert upstream_body(ex, BODIES[api], SLOT, True, None) == upstream_body(ex, BODIES[api], SLOT, True, {})


def test_extras_reach_a_translated_body_too() -> None:
    lora = [{"id": 1, "scale": 1.0}]
    out = upstream_body(
        exchange_for(Api.OLLAMA_GENERATE, BackendKind.LLAMACPP),
        BODIES[Api.OLLAMA_GENERATE],
        SLOT,
        True,
        {"lora": lora},
    )
    assert out["lora"] == lora and out["prompt"] == "hi"


# ---------------------------------------------------------------- upstream_body: translated


def test_a_translated_chat_is_an_openai_chat_request() -> None:
    body = {
        "model": "cs",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "options": {"temperature": 0, "num_predict": 64, "stop": ["\n\n"]},
        "stream": False,
    }
    out = upstream_body(exchange_for(Api.OLLAMA_CHAT, BackendKind.VLLM), body, SLOT, False)
    assert out["model"] == "base.gguf" and out["stream"] is False
    assert out["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert (out["temperature"], out["max_tokens"], out["stop"]) == (0, 64, ["\n\n"])
    assert "options" not in out and "stream_options" not in out


def test_a_translated_generate_is_an_openai_completion_request() -> None:
    body = {"model": "cs", "prompt": "2+2=", "system": "answer with a number", "stream": True}
    out = upstream_body(exchange_for(Api.OLLAMA_GENERATE, BackendKind.SIM), body, SLOT, True)
    assert out["prompt"] == "answer with a number\n\n2+2="
    assert (out["model"], out["stream"]) == ("base.gguf", True)
    assert "messages" not in out and "system" not in out


@pytest.mark.parametrize("api", OLLAMA_APIS)
@pytest.mark.parametrize("kind", OPENAI_SPEAKERS)
def test_a_translated_stream_asks_the_openai_server_for_token_counts(api: Api, kind: BackendKind) -> None:
    # Ollama's final line carries token counts; an OpenAI server sends them only when asked.
    out = upstream_body(exchange_for(api, kind), {**BODIES[api], "stream": True}, SLOT, True)
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("api", OLLAMA_APIS)
def test_a_translated_answer_in_one_piece_asks_for_no_stream_options(api: Api) -> None:
    out = upstream_body(exchange_for(api, BackendKind.OPENAI), {**BODIES[api], "stream": False}, SLOT, False)
    assert out["stream"] is False and "stream_options" not in out


@pytest.mark.parametrize("api", OLLAMA_APIS)
def test_stream_options_follow_the_stream_flag_sent_not_the_clients_default(api: Api) -> None:
    out = upstream_body(exchange_for(api, BackendKind.VLLM), BODIES[api], SLOT, False)
    assert out["stream"] is False and "stream_options" not in out


@pytest.mark.parametrize(
    ("api", "body", "field"),
    [
        (Api.OLLAMA_CHAT, {**CHAT, "options": {"stop": 5}}, "options.stop"),
        (Api.OLLAMA_GENERATE, {"model": "cs", "prompt": "hi", "options": {"stop": [1]}}, "options.stop"),
        (Api.OLLAMA_GENERATE, {"model": "cs", "prompt": "hi", "options": "hot"}, "options"),
    ],
)
def test_what_only_the_openai_side_refuses_is_a_validation_error_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        upstream_body(exchange_for(api, BackendKind.LLAMACPP), body, SLOT, True)
    assert caught.value.message.startswith(f"{field} must be")


@pytest.mark.parametrize("api", OLLAMA_APIS)
def test_the_same_body_is_not_translated_for_an_ollama_backend(api: Api) -> None:
    body = {**BODIES[api], "options": {"stop": 5}}  # Ollama judges its own options
    out = upstream_body(exchange_for(api, BackendKind.OLLAMA), body, SLOT, True)
    assert out["options"] == {"stop": 5} and out["stream"] is True
