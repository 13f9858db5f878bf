"""The shape checks a request passes before a slot is chosen: what is refused, and that the refusal says
what is wrong and how to send it instead; what only a backend can judge passes through."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from slipway.core.records import Api
from slipway.gateway.validation import (
    MAX_CATEGORY_CHARS,
    MAX_JSON_DEPTH,
    MAX_SLOT_NAME_CHARS,
    MAX_STICKY_KEY_CHARS,
    ClientLabels,
    Problem,
    client_labels,
    json_type,
    parse_request,
    request_problem,
    too_deep,
)

CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
GOOD: dict[Api, dict[str, Any]] = {
    Api.OPENAI_CHAT: CHAT,
    Api.OLLAMA_CHAT: CHAT,
    Api.OPENAI_COMPLETIONS: {"model": "m", "prompt": "hi"},
    Api.OLLAMA_GENERATE: {"model": "m", "prompt": "hi"},
}
CHAT_APIS = [Api.OPENAI_CHAT, Api.OLLAMA_CHAT]
PROMPT_APIS = [Api.OPENAI_COMPLETIONS, Api.OLLAMA_GENERATE]
OLLAMA_APIS = [Api.OLLAMA_CHAT, Api.OLLAMA_GENERATE]


def _problem(value: object) -> Problem:
    assert isinstance(value, Problem), f"expected a refusal, got {value!r}"
    return value


def _nested(levels: int) -> dict[str, Any]:
    """A chat body whose deepest container sits `levels` levels down (the body itself is level 1)."""
    inner: Any = []
    for _ in range(levels - 2):
        inner = [inner]
    return {**CHAT, "extra": inner}


# ---------------------------------------------------------------- parse_request: the bytes


@pytest.mark.parametrize("api", list(Api))
def test_a_well_formed_body_comes_back_as_the_parsed_object(api: Api) -> None:
    assert parse_request(api, orjson.dumps(GOOD[api]), b"application/json") == GOOD[api]


@pytest.mark.parametrize("raw", [b"", b"   ", b"\r\n\t "])
@pytest.mark.parametrize(
    ("api", "example"),
    [
        (Api.OPENAI_CHAT, '"messages": [{"role": "user", "content": "..."}]'),
        (Api.OLLAMA_CHAT, '"messages": [{"role": "user", "content": "..."}]'),
        (Api.OPENAI_COMPLETIONS, '{"model": "...", "prompt": "..."}'),
        (Api.OLLAMA_GENERATE, '{"model": "...", "prompt": "..."}'),
    ],
)
def test_an_empty_body_is_refused_with_an_example_in_the_clients_api(
    api: Api, raw: bytes, example: str
) -> None:
    problem = _problem(parse_request(api, raw, b"application/json"))
    assert problem.code == "invalid_json" and problem.param is None
    assert problem.message.startswith("request body is empty; send a JSON object like {")
    assert example in problem.message


@pytest.mark.parametrize("raw", [b'{"model": "m",', b"model=m&prompt=hi", b"{'model': 'm'}", b'{"a": NaN}'])
def test_a_body_that_is_not_json_says_so_and_asks_for_json(raw: bytes) -> None:
    problem = _problem(parse_request(Api.OPENAI_CHAT, raw, b"application/json"))
    assert problem.code == "invalid_json" and problem.param is None
    assert problem.message.startswith("request body is not valid JSON: ")
    assert problem.message.endswith("; send a JSON object with Content-Type: application/json")


def test_a_body_that_is_not_utf8_is_not_json() -> None:
    problem = _problem(parse_request(Api.OPENAI_CHAT, b'{"model": "\xff"}', None))
    assert problem.code == "invalid_json" and "not valid JSON" in problem.message


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        (b"application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),  # curl -d
        (b"text/plain; charset=utf-8", "text/plain"),
        (b"  multipart/form-data ; boundary=x", "multipart/form-data"),
    ],
)
def test_a_body_that_does_not_parse_names_a_content_type_other_than_json(
    content_type: bytes, named: str
) -> None:
    problem = _problem(parse_request(Api.OLLAMA_GENERATE, b"prompt=hi", content_type))
    assert problem.message.endswith(f"Content-Type: application/json (it was sent as {named})")


@pytest.mark.parametrize("content_type", [None, b"", b"application/json", b"application/json; charset=utf-8"])
def test_a_json_or_missing_content_type_is_not_blamed(content_type: bytes | None) -> None:
    problem = _problem(parse_request(Api.OLLAMA_GENERATE, b"prompt=hi", content_type))
    assert "it was sent as" not in problem.message


def test_a_json_content_type_in_capitals_is_not_blamed() -> None:
    problem = _problem(parse_request(Api.OLLAMA_GENERATE, b"prompt=hi", b"Application/JSON; charset=UTF-8"))
    assert "it was sent as" not in problem.message


@pytest.mark.parametrize(
    ("raw", "got"),
    [
        (b"[1, 2]", "an array"),
        (b'"hi"', "a string"),
        (b"42", "a number"),
        (b"4.2", "a number"),
        (b"true", "a boolean"),
        (b"null", "null"),
    ],
)
@pytest.mark.parametrize("api", list(Api))
def test_a_body_that_is_not_an_object_is_refused_naming_what_it_is(api: Api, raw: bytes, got: str) -> None:
    problem = _problem(parse_request(api, raw, b"application/json"))
    assert problem.code == "invalid_body"
    assert problem.message.startswith("request body must be a JSON object like {")
    assert problem.message.endswith(f", got {got}")


def test_nesting_up_to_the_limit_passes() -> None:
    body = _nested(MAX_JSON_DEPTH)
    assert not too_deep(body, MAX_JSON_DEPTH)
    assert parse_request(Api.OPENAI_CHAT, orjson.dumps(body), None) == body


def test_nesting_one_past_the_limit_is_refused_with_the_limit_and_the_fix() -> None:
    problem = _problem(parse_request(Api.OPENAI_CHAT, orjson.dumps(_nested(MAX_JSON_DEPTH + 1)), None))
    assert problem == Problem(
        f"request body is nested more than {MAX_JSON_DEPTH} levels deep; flatten it", code="invalid_body"
    )


def test_the_depth_limit_leaves_room_below_what_the_forwarding_encoder_refuses() -> None:
    # orjson refuses to write more than 254 levels; a body that passed must be forwardable.
    assert MAX_JSON_DEPTH < 254
    assert orjson.loads(orjson.dumps(_nested(MAX_JSON_DEPTH)))


def test_a_body_too_deep_is_refused_before_its_fields_are_read() -> None:
    deep = _nested(MAX_JSON_DEPTH + 1)
    del deep["messages"]
    problem = _problem(parse_request(Api.OPENAI_CHAT, orjson.dumps(deep), None))
    assert problem.code == "invalid_body" and "nested" in problem.message


def test_a_field_problem_comes_back_from_parse_request() -> None:
    problem = _problem(parse_request(Api.OPENAI_CHAT, b'{"model": "m"}', b"application/json"))
    assert (problem.param, problem.code) == ("messages", "invalid_request")


# ---------------------------------------------------------------- too_deep and json_type


@pytest.mark.parametrize(
    ("value", "limit", "deep"),
    [
        ({}, 1, False),
        ({}, 0, True),
        ([], 1, False),
        ({"a": []}, 1, True),
        ({"a": []}, 2, False),
        ({"a": {"b": [1, {"c": "d"}]}}, 4, False),
        ({"a": {"b": [1, {"c": "d"}]}}, 3, True),
        ({"a": 1, "b": "x" * 1000, "c": None}, 1, False),  # scalars add no depth
        ([[]] * 10_000, 2, False),  # wide is not deep
        ({"wide": [[]] * 100, "deep": [[[[]]]]}, 5, False),
        ({"wide": [[]] * 100, "deep": [[[[]]]]}, 4, True),  # the deepest branch decides
    ],
)
def test_too_deep_counts_containers_from_the_top(value: Any, limit: int, deep: bool) -> None:
    assert too_deep(value, limit) is deep


def test_too_deep_walks_a_deep_value_without_recursing() -> None:
    value: Any = []
    for _ in range(5_000):  # well past the interpreter's recursion limit
        value = [value]
    assert too_deep(value, 5_001) is False
    assert too_deep(value, 5_000) is True


@pytest.mark.parametrize("value", [5, 1.5, True, None])
def test_a_scalar_is_not_too_deep(value: Any) -> None:
    assert too_deep(value, MAX_JSON_DEPTH) is False


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "a boolean"),
        (False, "a boolean"),
        (0, "a number"),
        (-1.5, "a number"),
        ("", "a string"),
        ([], "an array"),
        ({}, "an object"),
    ],
)
def test_json_type_names_a_value_in_jsons_terms(value: Any, name: str) -> None:
    assert json_type(value) == name


# ---------------------------------------------------------------- request_problem: every API


@pytest.mark.parametrize("api", list(Api))
@pytest.mark.parametrize(("stream", "got"), [("true", "a string"), (1, "a number"), ({}, "an object")])
def test_stream_must_be_a_boolean(api: Api, stream: Any, got: str) -> None:
    problem = _problem(request_problem(api, {**GOOD[api], "stream": stream}))
    assert problem == Problem(f"stream must be true or false, got {got}", "stream")


@pytest.mark.parametrize("api", list(Api))
@pytest.mark.parametrize("stream", [True, False, None])
def test_stream_true_false_or_null_passes(api: Api, stream: bool | None) -> None:
    assert request_problem(api, {**GOOD[api], "stream": stream}) is None


def test_stream_is_checked_before_the_input() -> None:
    assert _problem(request_problem(Api.OPENAI_CHAT, {"stream": "yes"})).param == "stream"


@pytest.mark.parametrize("api", list(Api))
def test_fields_slipway_does_not_read_pass_through(api: Api) -> None:
    body = {**GOOD[api], "temperature": "hot", "tools": 7, "model": None, "unknown": [{}]}
    assert request_problem(api, body) is None


# ---------------------------------------------------------------- request_problem: chat


@pytest.mark.parametrize("api", CHAT_APIS)
@pytest.mark.parametrize(
    ("messages", "got"),
    [(None, "nothing"), ([], "an empty array"), ("hi", "a string"), ({"role": "user"}, "an object")],
)
def test_chat_needs_a_non_empty_messages_array(api: Api, messages: Any, got: str) -> None:
    body: dict[str, Any] = {"model": "m"} if messages is None else {"model": "m", "messages": messages}
    problem = _problem(request_problem(api, body))
    assert problem.param == "messages" and problem.code == "invalid_request"
    assert problem.message == (
        f'messages is required: a non-empty array like [{{"role": "user", "content": "..."}}], got {got}'
    )


@pytest.mark.parametrize("api", CHAT_APIS)
@pytest.mark.parametrize("bad", ["hi", None, {}, {"role": 1}, {"content": "hi"}])
def test_each_message_needs_a_string_role_and_the_refusal_points_at_it(api: Api, bad: Any) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}, bad]
    problem = _problem(request_problem(api, {"messages": messages}))
    assert problem.param == "messages[2]"
    assert (
        problem.message
        == 'messages[2] must be an object with a string role, like {"role": "user", "content": "..."}'
    )


@pytest.mark.parametrize("api", CHAT_APIS)
@pytest.mark.parametrize(
    "calls",
    [
        [],
        [{"function": {"name": "lookup", "arguments": {"id": 3}}}],
        [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    ],
)
def test_well_formed_tool_calls_pass(api: Api, calls: list[Any]) -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": calls}]
    assert request_problem(api, {"messages": messages}) is None


@pytest.mark.parametrize("api", CHAT_APIS)
@pytest.mark.parametrize(
    "calls",
    [
        "lookup",
        {"function": {"name": "f"}},
        ["f"],
        [{}],
        [{"function": "f"}],
        [{"function": {"arguments": {}}}],
        [{"function": {"name": 7}}],
        [{"function": {"name": "f"}}, {"function": {}}],  # the second is wrong
    ],
)
def test_malformed_tool_calls_are_refused_with_the_shape_to_send(api: Api, calls: Any) -> None:
    messages = [{"role": "assistant", "content": None, "tool_calls": calls}]
    problem = _problem(request_problem(api, {"messages": messages}))
    assert problem.param == "messages[0].tool_calls"
    assert problem.message == (
        'messages[0].tool_calls must be an array like [{"function": {"name": "...", "arguments": {...}}}]'
    )


@pytest.mark.parametrize("content", ["hi", "", None, [{"type": "text", "text": "hi"}], []])
def test_openai_chat_content_is_a_string_or_parts(content: Any) -> None:
    assert request_problem(Api.OPENAI_CHAT, {"messages": [{"role": "user", "content": content}]}) is None


@pytest.mark.parametrize(
    ("content", "got"), [(5, "a number"), ({"text": "hi"}, "an object"), (True, "a boolean")]
)
def test_openai_chat_content_of_another_type_is_refused(content: Any, got: str) -> None:
    messages = [{"role": "user", "content": "ok"}, {"role": "user", "content": content}]
    problem = _problem(request_problem(Api.OPENAI_CHAT, {"messages": messages}))
    assert problem == Problem(
        f"messages[1].content must be a string or an array of content parts, got {got}", "messages[1].content"
    )


@pytest.mark.parametrize("content", ["hi", "", None])
def test_ollama_chat_content_is_a_string(content: Any) -> None:
    assert request_problem(Api.OLLAMA_CHAT, {"messages": [{"role": "user", "content": content}]}) is None


@pytest.mark.parametrize(
    ("content", "got"), [([{"type": "text", "text": "hi"}], "an array"), (5, "a number")]
)
def test_ollama_chat_content_of_another_type_is_refused(content: Any, got: str) -> None:
    problem = _problem(request_problem(Api.OLLAMA_CHAT, {"messages": [{"role": "user", "content": content}]}))
    assert problem == Problem(f"messages[0].content must be a string, got {got}", "messages[0].content")


def test_ollama_chat_images_must_be_an_array() -> None:
    ok = {"messages": [{"role": "user", "content": "what is this?", "images": ["aGk="]}]}
    assert request_problem(Api.OLLAMA_CHAT, ok) is None
    bad = {"messages": [{"role": "user", "content": "what is this?", "images": "aGk="}]}
    assert _problem(request_problem(Api.OLLAMA_CHAT, bad)) == Problem(
        "messages[0].images must be an array of base64 strings", "messages[0].images"
    )


def test_openai_chat_leaves_images_and_options_to_the_backend() -> None:
    body = {"messages": [{"role": "user", "content": "hi", "images": "x"}], "options": "x"}
    assert request_problem(Api.OPENAI_CHAT, body) is None


# ---------------------------------------------------------------- request_problem: prompts


@pytest.mark.parametrize("prompt", ["hi", "", ["a", "b"], [[1, 2, 3]], [""]])
def test_openai_completions_take_a_string_or_a_non_empty_array(prompt: Any) -> None:
    assert request_problem(Api.OPENAI_COMPLETIONS, {"prompt": prompt}) is None


@pytest.mark.parametrize(
    ("prompt", "got"), [(None, "nothing"), ([], "an empty array"), (5, "a number"), ({}, "an object")]
)
def test_openai_completions_without_a_prompt_are_refused(prompt: Any, got: str) -> None:
    body = {} if prompt is None else {"prompt": prompt}
    assert _problem(request_problem(Api.OPENAI_COMPLETIONS, body)) == Problem(
        f"prompt is required: a string or an array of strings, got {got}", "prompt"
    )


@pytest.mark.parametrize(
    ("prompt", "got"), [(None, "nothing"), (["hi"], "an array"), ([], "an empty array"), (1, "a number")]
)
def test_ollama_generate_needs_a_string_prompt(prompt: Any, got: str) -> None:
    body = {"model": "m"} if prompt is None else {"model": "m", "prompt": prompt}
    assert _problem(request_problem(Api.OLLAMA_GENERATE, body)) == Problem(
        f"prompt is required: a string, got {got}", "prompt"
    )


def test_ollama_generate_takes_an_empty_prompt() -> None:
    assert request_problem(Api.OLLAMA_GENERATE, {"model": "m", "prompt": ""}) is None


# ---------------------------------------------------------------- request_problem: Ollama options


@pytest.mark.parametrize("api", OLLAMA_APIS)
@pytest.mark.parametrize("options", [None, {}, {"temperature": 0, "num_predict": 5}])
def test_ollama_options_may_be_an_object_or_absent(api: Api, options: Any) -> None:
    assert request_problem(api, {**GOOD[api], "options": options}) is None


@pytest.mark.parametrize("api", OLLAMA_APIS)
@pytest.mark.parametrize(
    ("options", "got"), [([], "an array"), ("temperature=0", "a string"), (0, "a number")]
)
def test_ollama_options_of_another_type_are_refused_with_an_example(api: Api, options: Any, got: str) -> None:
    assert _problem(request_problem(api, {**GOOD[api], "options": options})) == Problem(
        f'options must be an object like {{"temperature": 0}}, got {got}', "options"
    )


def test_ollama_input_is_checked_before_its_options() -> None:
    assert _problem(request_problem(Api.OLLAMA_GENERATE, {"options": []})).param == "prompt"
    assert _problem(request_problem(Api.OLLAMA_CHAT, {"messages": [], "options": []})).param == "messages"


# ---------------------------------------------------------------- client_labels


def test_no_labels_at_all() -> None:
    assert client_labels({}, {}) == ClientLabels(None, None, None)


def test_labels_come_from_the_headers() -> None:
    headers = {b"x-slipway-category": b"billing", b"x-slipway-key": b"user-7", b"x-slipway-slot": b"green"}
    assert client_labels(headers, {}) == ClientLabels("billing", "user-7", "green")


def test_labels_come_from_the_body_when_no_header_says() -> None:
    body = {"metadata": {"category": "billing"}, "user": "user-7", "slot": "green"}
    # The slot is pinned by header only: a body field of that name is the backend's business.
    assert client_labels({}, body) == ClientLabels("billing", "user-7", None)


def test_headers_win_over_the_body() -> None:
    headers = {b"x-slipway-category": b"refunds", b"x-slipway-key": b"k-1"}
    body = {"metadata": {"category": "billing"}, "user": "user-7"}
    assert client_labels(headers, body) == ClientLabels("refunds", "k-1", None)


def test_an_empty_header_falls_back_to_the_body() -> None:
    headers = {b"x-slipway-category": b"", b"x-slipway-key": b"", b"x-slipway-slot": b""}
    body = {"metadata": {"category": "billing"}, "user": "user-7"}
    assert client_labels(headers, body) == ClientLabels("billing", "user-7", None)


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": "billing", "user": 7},
        {"metadata": {"category": 3}, "user": None},
        {"metadata": {"category": ["billing"]}, "user": ["u"]},
        {"metadata": None, "user": {"id": "u"}},
    ],
)
def test_body_labels_of_another_type_are_ignored_not_refused(body: dict[str, Any]) -> None:
    assert client_labels({}, body) == ClientLabels(None, None, None)


LIMITS = [
    ("X-Slipway-Category", MAX_CATEGORY_CHARS),
    ("X-Slipway-Key", MAX_STICKY_KEY_CHARS),
    ("X-Slipway-Slot", MAX_SLOT_NAME_CHARS),
]


@pytest.mark.parametrize(("name", "limit"), LIMITS)
def test_a_header_label_at_its_limit_passes(name: str, limit: int) -> None:
    labels = client_labels({name.lower().encode(): b"a" * limit}, {})
    assert isinstance(labels, ClientLabels) and "a" * limit in (
        labels.category,
        labels.sticky_key,
        labels.slot,
    )


@pytest.mark.parametrize(("name", "limit"), LIMITS)
def test_a_header_label_past_its_limit_is_refused_naming_length_and_limit(name: str, limit: int) -> None:
    problem = _problem(client_labels({name.lower().encode(): b"a" * (limit + 1)}, {}))
    assert problem == Problem(
        f"{name} is {limit + 1} characters long; the limit is {limit}", name, "label_too_long"
    )


@pytest.mark.parametrize(
    ("body", "name", "limit"),
    [
        ({"metadata": {"category": "c" * (MAX_CATEGORY_CHARS + 1)}}, "metadata.category", MAX_CATEGORY_CHARS),
        ({"user": "u" * (MAX_STICKY_KEY_CHARS + 1)}, "user", MAX_STICKY_KEY_CHARS),
    ],
)
def test_a_body_label_past_its_limit_is_refused_naming_the_body_field(
    body: dict[str, Any], name: str, limit: int
) -> None:
    assert _problem(client_labels({}, body)) == Problem(
        f"{name} is {limit + 1} characters long; the limit is {limit}", name, "label_too_long"
    )


def test_limits_count_characters_not_bytes() -> None:
    wide = "é" * MAX_CATEGORY_CHARS  # twice as many bytes as characters
    labels = client_labels({b"x-slipway-category": wide.encode()}, {})
    assert isinstance(labels, ClientLabels) and labels.category == wide
    problem = _problem(client_labels({b"x-slipway-category": (wide + "é").encode()}, {}))
    assert problem.code == "label_too_long"


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9f"])
@pytest.mark.parametrize(
    ("header", "name"), [(b"x-slipway-category", "X-Slipway-Category"), (b"x-slipway-slot", "X-Slipway-Slot")]
)
def test_a_control_character_in_a_label_is_refused(char: str, header: bytes, name: str) -> None:
    problem = _problem(client_labels({header: f"bill{char}ing".encode()}, {}))
    assert problem == Problem(
        f"{name} contains a control character (such as a line break or NUL); send plain text",
        name,
        "invalid_label",
    )


def test_a_control_character_in_the_user_field_is_refused_naming_it() -> None:
    problem = _problem(client_labels({}, {"user": "u\r\nX-Injected: 1"}))
    assert (problem.param, problem.code) == ("user", "invalid_label")


@pytest.mark.parametrize("text", ["billing", "façturation", "請求", "a b-c_d.e/f:g", "\xa0nbsp"])
def test_printable_text_in_any_script_passes(text: str) -> None:
    labels = client_labels({b"x-slipway-category": text.encode()}, {})
    assert isinstance(labels, ClientLabels) and labels.category == text


@pytest.mark.parametrize("raw", [b"\xff", b"caf\xe9", b"\xc3"])
def test_a_header_that_is_not_utf8_is_refused(raw: bytes) -> None:
    assert _problem(client_labels({b"x-slipway-key": raw}, {})) == Problem(
        "X-Slipway-Key must be UTF-8 text", "X-Slipway-Key", "invalid_label"
    )


def test_the_category_is_reported_before_the_key_and_the_key_before_the_slot() -> None:
    headers = {b"x-slipway-category": b"\x00", b"x-slipway-key": b"\x00", b"x-slipway-slot": b"\x00"}
    assert _problem(client_labels(headers, {})).param == "X-Slipway-Category"
    del headers[b"x-slipway-category"]
    assert _problem(client_labels(headers, {})).param == "X-Slipway-Key"
    del headers[b"x-slipway-key"]
    assert _problem(client_labels(headers, {})).param == "X-Slipway-Slot"
