"""Hypothesis strategies for what hostile or careless clients send: JSON, strings, bytes, headers.

Bodies are built as bytes, not Python objects, so they can be what no JSON
library writes: nested thousands deep, cut mid-token, invalid UTF-8, lone
surrogate escapes, NaN literals, duplicate keys. Most examples stay close to a
valid request (so they get past the first check and reach translation, routing,
the backend and the recorder); the rest are anything at all.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

# -- strings and numbers ---------------------------------------------------------------

#: Characters that have broken gateways: line breaks and NUL (headers, logs, SQL), separators,
#: bidi and BOM, escapes of other languages, C1 controls, astral code points.
ODD_CHARS = [
    "\x00", "\r", "\n", "\r\n", "\t", "\x0b", "\x1b", "\x7f", "\x85", "\xa0", "\u2028", "\u2029",
    "\ufeff", "\u202e", "\ufffd", "\U0010ffff", "😀", "é", "ß", "İ", "\\", '"', "'", "%00", "%0d%0a",
    "../", "{{7*7}}", "${jndi:x}", "<script>", "'; DROP TABLE requests;--", ":", "/", " ",
]  # fmt: skip

odd_char = st.sampled_from(ODD_CHARS)
short_text = st.text(max_size=24)
odd_text = st.one_of(
    short_text,
    st.lists(st.one_of(odd_char, short_text), max_size=6).map("".join),
    st.sampled_from(["", " ", "blue", "green", "billing", "refund please", "null", "true", "0"]),
)


@st.composite
def long_text(draw: st.DrawFn) -> str:
    """Strings at and around the limits slipway documents (200, 400, 1,000 characters) and far past."""
    unit = draw(st.sampled_from(["a", "é", "😀", "\x00", "ab\r\n"]))
    size = draw(st.sampled_from([199, 200, 201, 399, 400, 401, 1000, 1001, 8190, 8191, 65_536, 300_000]))
    return (unit * size)[:size]


strings = st.one_of(odd_text, odd_text, odd_text, long_text())

#: Integers at the edges of int32, int64 and uint64 (token counts, seeds, limits) and beyond.
edge_ints = st.one_of(
    st.integers(-10, 10),
    st.sampled_from([2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1]),
    st.integers(),
)
numbers = st.one_of(edge_ints, st.floats(allow_nan=False, allow_infinity=False))

# -- JSON ------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(short_text, odd_text), inner, max_size=4)
    ),
    max_leaves=12,
)

#: Stands for a deep nesting in a body object; replaced in the serialized text (json.dumps
#: itself would hit Python's recursion limit).
DEEP = "\x00slipway-fuzz-deep\x00"


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    """Arrays and objects nested around the gateway's limit (128), the encoder's (254) and far past."""
    depth = draw(
        st.sampled_from([127, 128, 129, 253, 254, 255, 256, 600, 1000, 1023, 1024, 1025, 5000, 100_000])
    )
    kind = draw(st.sampled_from(["list", "dict", "mixed"]))
    opens, closes = [], []
    for i in range(depth):
        as_list = kind == "list" or (kind == "mixed" and i % 2 == 0)
        opens.append("[" if as_list else '{"a":')
        closes.append("]" if as_list else "}")
    return "".join(opens) + "1" + "".join(reversed(closes))


def dumps(value: Any, deep: str | None = None) -> bytes:
    """JSON text (NaN and infinity written as the literals no JSON parser takes), with `deep` spliced in."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    if deep is not None:
        text = text.replace(json.dumps(DEEP, ensure_ascii=False), deep, 1)
    return text.encode("utf-8", "surrogatepass")


# -- request bodies --------------------------------------------------------------------

ROLES = st.one_of(st.sampled_from(["user", "system", "assistant", "tool", "developer"]), strings, json_values)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value for an optional field: absent (None here, dropped later), or the strategy's."""
    return st.one_of(st.just(_ABSENT), strategy)


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not _ABSENT}


content_parts = st.lists(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": strings}),
        st.fixed_dictionaries(
            {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": strings})}
        ),
        st.dictionaries(st.sampled_from(["type", "text", "image_url", "input_audio"]), json_values),
        json_values,
    ),
    max_size=4,
)

tool_calls = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": maybe(strings),
                "type": maybe(st.just("function")),
                "function": st.one_of(
                    st.fixed_dictionaries(
                        {"name": strings, "arguments": st.one_of(strings, json_values, st.just("{not json"))}
                    ),
                    json_values,
                ),
            }
        ).map(_present),
        max_size=3,
    ),
    json_values,
)


def messages(ollama: bool) -> st.SearchStrategy[Any]:
    message = st.fixed_dictionaries(
        {
            "role": ROLES,
            "content": st.one_of(strings, strings, st.none(), content_parts, json_values),
            "name": maybe(strings),
            "tool_calls": maybe(tool_calls),
            "tool_call_id": maybe(strings),
            "images": maybe(st.one_of(st.lists(strings, max_size=3), json_values))
            if ollama
            else st.just(_ABSENT),
            "thinking": maybe(strings) if ollama else st.just(_ABSENT),
        }
    ).map(_present)
    return st.one_of(st.lists(message, min_size=1, max_size=4), st.lists(message, max_size=1), json_values)


metadata = st.one_of(
    st.fixed_dictionaries({"category": st.one_of(strings, json_values)}),
    st.dictionaries(short_text, json_values, max_size=3),
    json_values,
)
stream = st.one_of(st.booleans(), st.booleans(), json_values)
tools = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("function"),
                "function": st.fixed_dictionaries(
                    {"name": strings, "parameters": maybe(json_values), "description": maybe(strings)}
                ).map(_present),
            }
        ),
        json_values,
    ),
    max_size=2,
)
ollama_options = st.one_of(
    st.fixed_dictionaries(
        {
            "num_predict": maybe(st.one_of(edge_ints, json_values)),
            "temperature": maybe(st.one_of(numbers, json_values)),
            "top_p": maybe(numbers),
            "seed": maybe(edge_ints),
            "stop": maybe(st.one_of(st.lists(strings, max_size=3), json_values)),
            "num_ctx": maybe(edge_ints),
        }
    ).map(_present),
    json_values,
)

COMMON_OPENAI = {
    "stream": maybe(stream),
    "stream_options": maybe(st.one_of(st.fixed_dictionaries({"include_usage": json_values}), json_values)),
    "max_tokens": maybe(st.one_of(edge_ints, json_values)),
    "temperature": maybe(numbers),
    "n": maybe(edge_ints),
    "stop": maybe(st.one_of(strings, st.lists(strings, max_size=3), json_values)),
    "user": maybe(st.one_of(strings, json_values)),
    "metadata": maybe(metadata),
    "seed": maybe(edge_ints),
    "logit_bias": maybe(json_values),
}


def openai_chat() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "model": maybe(st.one_of(strings, json_values)),
            "messages": messages(ollama=False),
            "max_completion_tokens": maybe(st.one_of(edge_ints, json_values)),
            "tools": maybe(st.one_of(tools, json_values)),
            "tool_choice": maybe(json_values),
            "response_format": maybe(json_values),
            **COMMON_OPENAI,
        }
    ).map(_present)


def openai_completions() -> st.SearchStrategy[dict[str, Any]]:
    prompt = st.one_of(
        strings, strings, st.lists(strings, max_size=3), st.lists(edge_ints, max_size=5), json_values
    )
    return st.fixed_dictionaries(
        {
            "model": maybe(st.one_of(strings, json_values)),
            "prompt": prompt,
            "suffix": maybe(strings),
            "echo": maybe(json_values),
            "best_of": maybe(edge_ints),
            "logprobs": maybe(json_values),
            **COMMON_OPENAI,
        }
    ).map(_present)


OLLAMA_COMMON = {
    "model": maybe(st.one_of(strings, json_values)),
    "stream": maybe(stream),
    "options": maybe(ollama_options),
    "format": maybe(st.one_of(st.just("json"), json_values)),
    "keep_alive": maybe(st.one_of(strings, edge_ints, json_values)),
    "think": maybe(json_values),
    "metadata": maybe(metadata),
    "user": maybe(strings),
}


def ollama_chat() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"messages": messages(ollama=True), "tools": maybe(st.one_of(tools, json_values)), **OLLAMA_COMMON}
    ).map(_present)


def ollama_generate() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "prompt": st.one_of(strings, strings, json_values),
            "system": maybe(strings),
            "template": maybe(strings),
            "suffix": maybe(strings),
            "context": maybe(st.one_of(st.lists(edge_ints, max_size=5), json_values)),
            "raw": maybe(json_values),
            "images": maybe(st.one_of(st.lists(strings, max_size=2), json_values)),
            **OLLAMA_COMMON,
        }
    ).map(_present)


BODIES = {
    "/v1/chat/completions": openai_chat,
    "/v1/completions": openai_completions,
    "/api/chat": ollama_chat,
    "/api/generate": ollama_generate,
}


@st.composite
def with_deep_value(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    """The body with one value (top level, in a message, in metadata) replaced by a deep nesting."""
    body = copy.deepcopy(body)
    spots: list[tuple[Any, str | int]] = [
        (body, draw(st.sampled_from(["metadata", "options", "x", "messages"])))
    ]
    for message in body.get("messages") or [] if isinstance(body.get("messages"), list) else []:
        if isinstance(message, dict):
            spots.append((message, "content"))
    parent, key = draw(st.sampled_from(spots))
    parent[key] = DEEP
    return dumps(body, draw(deep_json()))


#: Bytes that are not UTF-8, or are UTF-8 that strict decoders refuse (overlong, surrogates).
BAD_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xe2\x82",
]


@st.composite
def mangled(draw: st.DrawFn, body: bytes) -> bytes:
    """Valid JSON text broken the ways transport and careless code break it."""
    how = draw(st.sampled_from(["cut", "insert", "bom", "nan", "surrogate", "dup", "bignum", "trail"]))
    at = draw(st.integers(0, len(body)))
    if how == "cut":
        return body[:at]
    if how == "insert":
        return body[:at] + draw(st.sampled_from(BAD_UTF8)) + body[at:]
    if how == "bom":
        return b"\xef\xbb\xbf" + body
    if how == "trail":
        return body + draw(st.sampled_from([b" ", b"\n", b"x", b"{}", b"\x00", b",", b"]"]))
    if body.startswith(b"{") and len(body) > 2:
        extra = {
            "nan": b'"temperature": NaN, "max_tokens": Infinity,',
            "surrogate": b'"model": "\\ud800", "user": "\\udc00\\ud800",',
            "dup": b'"messages": 1, "prompt": 2, "stream": "yes", "stream": true,',
            "bignum": b'"max_tokens": 1e999, "seed": 123456789012345678901234567890, "n": -0.0,',
        }[how]
        return b"{" + extra + body[1:]
    return body


def request_body(path: str) -> st.SearchStrategy[bytes]:
    """Bytes for POST `path`: mostly near-valid requests, some deep, mangled or arbitrary."""
    near = BODIES[path]()
    return st.one_of(
        near.map(dumps),
        near.map(dumps),
        near.map(dumps),
        near.flatmap(with_deep_value),
        near.map(dumps).flatmap(mangled),
        json_values.map(dumps),
        st.binary(max_size=64),
        st.sampled_from([b"", b" ", b"null", b"[]", b"{}", b'"x"', b"0", b"{" * 300, b"[" * 100_000]),
    )


# -- headers ---------------------------------------------------------------------------

CONTENT_TYPES = [
    None, b"application/json", b"application/json; charset=utf-8", b"application/json; charset=latin-1",
    b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
    b"application/x-ndjson", b"", b"\xff\xfe", b"application/json\x00",
]  # fmt: skip


@st.composite
def header_value(draw: st.DrawFn) -> bytes:
    """A header value as bytes on the wire: text, any byte but CR and LF, long, or none at all."""
    choice = draw(st.sampled_from(["text", "text", "bytes", "long", "utf8-odd"]))
    if choice == "text":
        return draw(odd_text).encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b"")
    if choice == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\r", b"").replace(b"\n", b"")
    if choice == "long":
        return draw(long_text()).encode("utf-8").replace(b"\r", b"").replace(b"\n", b"")[:70_000]
    return draw(
        st.sampled_from([b"caf\xc3\xa9", b"\xe2\x80\xae", b"a\x00b", b"a\x85b", b"\xc3", b" x ", b"\t"])
    )


SLOT_VALUES = [b"blue", b"green", b"BLUE", b"blue ", b"red", b"", b"../x", b"blue,green", b"\xff"]
#: Guesses at a drill's token (43 URL-safe characters), and values that cannot be one.
DRILL_VALUES = [b"A" * 43, b"blue", b"", b"x" * 64, b"x" * 65, b"\xff" * 43, b"pinned", b"caf\xc3\xa9"]


@st.composite
def client_headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """Content-Type and slipway's own request headers, each maybe absent, repeated or hostile."""
    headers: list[tuple[bytes, bytes]] = []
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        headers.append((b"content-type", content_type))
    for name in (b"x-slipway-category", b"x-slipway-key"):
        for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
            headers.append((name, draw(header_value())))
    if draw(st.booleans()):
        slot = draw(st.one_of(st.sampled_from(SLOT_VALUES), header_value()))
        headers.append((b"x-slipway-slot", slot))
    if draw(st.integers(0, 3)) == 0:
        headers.append((b"x-slipway-drill", draw(st.one_of(st.sampled_from(DRILL_VALUES), header_value()))))
    if draw(st.integers(0, 4)) == 0:
        headers.append(
            draw(
                st.sampled_from(
                    [
                        (b"accept", b"text/event-stream"),
                        (b"accept-encoding", b"gzip, br"),
                        (b"x-slipway-request-id", b"forged-id"),
                        (b"authorization", b"Bearer not-for-the-data-plane"),
                        (b"origin", b"http://evil.example"),
                        (b"expect", b"100-continue"),
                        (b"x-slipway-actor", b"mallory"),
                    ]
                )
            )
        )
    return headers


def wire_framing() -> st.SearchStrategy[list[int] | None]:
    """Content-Length (None), or chunked transfer encoding cut at these offsets."""
    return st.one_of(st.none(), st.none(), st.lists(st.integers(0, 4096), max_size=4))


# -- requests that pass the gateway's checks -------------------------------------------
#
# Typed as the gateway expects, odd in every value it passes on: these reach routing,
# translation, the backend, streaming and the recorder, where the fuzzier bodies above stop
# at the first 400.

#: Labels slipway accepts: printable, not too long.
plain_label = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)


@st.composite
def label_at_limit(draw: st.DrawFn, limit: int) -> str:
    """A label of `limit` characters (or one less, or one more), some of them several bytes in UTF-8:
    the store's columns must hold what the gateway lets through, and the rest is refused."""
    unit = draw(st.sampled_from(["a", "é", "😀", "中", "\u200b", "\ufeff", "\U0010fffd", "ǅ", "'"]))
    size = limit + draw(st.sampled_from([-1, 0, 0, 1]))
    return "x" + (unit * size)[: size - 1]


def labels(limit: int) -> st.SearchStrategy[str]:
    return st.one_of(plain_label, plain_label, label_at_limit(limit))


extra_fields = st.dictionaries(
    st.sampled_from(["seed", "top_k", "x", "logprobs", "presence_penalty"]), json_values, max_size=2
)


def _typed_message(ollama: bool) -> st.SearchStrategy[dict[str, Any]]:
    content = st.one_of(strings, strings, st.none()) if ollama else st.one_of(strings, strings, content_parts)
    return st.fixed_dictionaries(
        {
            "role": st.one_of(st.sampled_from(["user", "system", "assistant", "tool"]), plain_label),
            "content": content,
            "images": maybe(st.lists(strings, max_size=2)) if ollama else st.just(_ABSENT),
            "tool_calls": maybe(
                st.lists(
                    st.fixed_dictionaries(
                        {"function": st.fixed_dictionaries({"name": strings, "arguments": json_values})}
                    ),
                    max_size=2,
                )
            ),
        }
    ).map(_present)


@st.composite
def typed_body(draw: st.DrawFn, path: str) -> dict[str, Any]:
    ollama = path.startswith("/api/")
    body: dict[str, Any] = {"model": draw(st.one_of(strings, json_values))}
    if path.endswith("chat") or path.endswith("chat/completions"):
        body["messages"] = draw(st.lists(_typed_message(ollama), min_size=1, max_size=3))
    elif ollama:
        body["prompt"] = draw(strings)
    else:
        body["prompt"] = draw(st.one_of(strings, st.lists(strings, min_size=1, max_size=3)))
    body["stream"] = draw(st.booleans())
    if not ollama and body["stream"] and draw(st.booleans()):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    if draw(st.booleans()):
        body["metadata"] = {"category": draw(labels(200))}
    if draw(st.booleans()):
        body["user"] = draw(labels(400))
    if ollama and draw(st.booleans()):
        body["options"] = draw(
            st.fixed_dictionaries(
                {
                    "num_predict": maybe(edge_ints),
                    "temperature": maybe(numbers),
                    "stop": maybe(st.lists(strings, max_size=2)),
                }
            ).map(_present)
        )
    if not ollama and draw(st.booleans()):
        body[draw(st.sampled_from(["max_tokens", "max_completion_tokens", "n"]))] = draw(edge_ints)
    body.update(draw(extra_fields))
    return body


@st.composite
def typed_headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    if draw(st.booleans()):
        headers.append((b"x-slipway-category", draw(labels(200)).encode()))
    if draw(st.booleans()):
        headers.append((b"x-slipway-key", draw(labels(400)).encode()))
    if draw(st.integers(0, 3)) == 0:
        headers.append((b"x-slipway-slot", draw(st.sampled_from([b"blue", b"green", b"slow"]))))
    if draw(st.integers(0, 3)) == 0:
        headers.append((b"x-slipway-drill", draw(st.sampled_from(DRILL_VALUES))))
    return headers


# -- one hostile thing at a time ---------------------------------------------------------
#
# A request with several hostile parts is refused for the first one the gateway checks, so the
# rest are never reached. These requests are valid but for exactly one thing.

#: Fields a client may send, whatever the endpoint: where a hostile value goes.
FIELD_NAMES = [
    "model", "messages", "prompt", "stream", "stream_options", "metadata", "user", "options", "format",
    "max_tokens", "max_completion_tokens", "n", "stop", "tools", "tool_choice", "images", "context",
    "keep_alive", "suffix", "system", "template", "raw", "think", "seed", "logit_bias", "response_format",
]  # fmt: skip
hostile_values = st.one_of(json_values, strings, long_text(), edge_ints, st.just(DEEP), st.just(DEEP))


def _spots(body: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(container, key) pairs of a body where a value could be replaced or added."""
    spots: list[tuple[Any, Any]] = [(body, name) for name in FIELD_NAMES]
    for message in body.get("messages") or []:
        spots += [(message, k) for k in ("role", "content", "images", "tool_calls", "name", "thinking")]
        for call in message.get("tool_calls") or []:
            spots += [(call, "function"), (call["function"], "name"), (call["function"], "arguments")]
        if isinstance(message.get("content"), list):
            spots += [(part, "text") for part in message["content"] if isinstance(part, dict)]
    for name in ("metadata", "options", "stream_options"):
        if isinstance(body.get(name), dict):
            spots += [(body[name], k) for k in ("category", "num_predict", "include_usage", "stop")]
    return spots


@st.composite
def single_mutation(draw: st.DrawFn, path: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(body, headers) of a request the gateway would serve but for one hostile part."""
    body = copy.deepcopy(draw(typed_body(path)))
    headers = draw(typed_headers())
    how = draw(st.sampled_from(["value", "value", "value", "drop", "header", "bytes"]))
    if how == "header":
        name = draw(
            st.sampled_from([b"x-slipway-category", b"x-slipway-key", b"x-slipway-slot", b"content-type"])
        )
        return dumps(body), [(n, v) for n, v in headers if n != name] + [(name, draw(header_value()))]
    if how == "bytes":
        return draw(mangled(dumps(body))), headers
    # Half the time a field slipway itself reads (labels) or passes on untouched (unknown fields).
    body.setdefault("metadata", {})
    own = [(body["metadata"], "category"), (body, "user"), (body, "x_unknown"), (body, "logit_bias")]
    parent, key = draw(st.one_of(st.sampled_from(_spots(body)), st.sampled_from(own)))
    if not isinstance(parent, dict):
        parent, key = body, "x_unknown"
    if how == "drop":
        parent.pop(key, None)
        return dumps(body), headers
    value = draw(hostile_values)
    parent[key] = value
    return dumps(body, draw(deep_json()) if value == DEEP else None), headers
