"""Any routing file ends in a config or a ConfigError, and a live gateway survives reloading it.

The config watcher and `POST /admin/reload` keep the running routes only
because a bad file raises ConfigError: any other exception once killed the
watcher (a NaN weight) or turned a reload into a 500. Files come from three
sources: configs shaped like slipway's (every section, odd values), that
YAML text mangled with the features YAML offers (anchors and aliases, tags,
merges, directives, several documents), and arbitrary text or bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.faults import refusing_endpoint
from tests.fuzz.budget import TIMEOUT_S, fuzz_settings
from tests.fuzz.live import Backends, Finding, Site, served
from tests.fuzz.strategies import BAD_UTF8, edge_ints, json_values, numbers, odd_text

from slipway.app import canary_analysis
from slipway.core.config import RoutingConfig, parse_config
from slipway.core.config_yaml import read_config_text
from slipway.core.errors import ConfigError

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TIMEOUT_S)]

#: A hang detector, not a speed test: parsing a file of a few KiB takes milliseconds, an alias bomb
#: or a quadratic walk takes minutes. Far above anything a loaded CI machine needs.
HANG_DEADLINE = timedelta(seconds=20)

# -- files shaped like routing configs --------------------------------------------------

SLOT_NAMES = st.one_of(st.sampled_from(["blue", "green", "canary-1", "a.b_c"]), odd_text)
scalar_or_odd = st.one_of(odd_text, numbers, st.booleans(), st.none(), json_values)
number_or_odd = st.one_of(
    numbers, edge_ints, st.sampled_from([float("nan"), float("inf"), -0.0, 1e-300]), json_values
)


def maybe_key(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping with any subset of `fields`, plus now and then a key slipway does not know."""
    return st.fixed_dictionaries({}, optional={**fields, "unknown_key": scalar_or_odd})


def slot(endpoints: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "model": st.one_of(st.sampled_from(["customer-support-v2.1", "m"]), scalar_or_odd),
            "endpoint": st.one_of(st.sampled_from(endpoints), scalar_or_odd),
        },
        optional={
            "kind": st.one_of(
                st.sampled_from(["sim", "openai", "ollama", "llamacpp", "vllm"]), scalar_or_odd
            ),
            "version": scalar_or_odd,
            "upstream_model": scalar_or_odd,
            "adapter": scalar_or_odd,
            "api_key_env": scalar_or_odd,
            "engine": scalar_or_odd,
            "timeouts": st.one_of(
                maybe_key({"connect": number_or_odd, "read": number_or_odd}), scalar_or_odd
            ),
        },
    )


def routing_config(endpoints: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    slots = st.dictionaries(
        SLOT_NAMES, st.one_of(slot(endpoints), slot(endpoints), scalar_or_odd), max_size=3
    )
    return st.fixed_dictionaries(
        {"active_slot": st.one_of(st.sampled_from(["blue", "green"]), scalar_or_odd)},
        optional={
            "name": scalar_or_odd,
            "slots": st.one_of(slots, slots, scalar_or_odd),
            "weights": st.one_of(st.dictionaries(SLOT_NAMES, number_or_odd, max_size=3), scalar_or_odd),
            "gateway": maybe_key(
                {
                    "max_body_bytes": number_or_odd,
                    "record_queue_size": number_or_odd,
                    "record_flush_interval_s": number_or_odd,
                    "public_model": scalar_or_odd,
                    "max_connections": number_or_odd,
                    "header_timeout_s": number_or_odd,
                    "allowed_hosts": st.one_of(st.lists(odd_text, max_size=3), scalar_or_odd),
                }
            ),
            "canary": maybe_key(
                {
                    "steps": st.one_of(
                        st.sampled_from(["5%:2h,25%:4h,100%", "100%", "0%:1s", "50%:0s"]), scalar_or_odd
                    ),
                    "interval": st.one_of(st.sampled_from(["15m", "0s", "1ms", "99999999d"]), scalar_or_odd),
                    "hold_limit": scalar_or_odd,
                    "guard_interval": scalar_or_odd,
                    "inconclusive": scalar_or_odd,
                    "thresholds": st.one_of(
                        st.dictionaries(odd_text, json_values, max_size=3), scalar_or_odd
                    ),
                    "output_checks": st.one_of(
                        st.dictionaries(odd_text, json_values, max_size=3), scalar_or_odd
                    ),
                }
            ),
            "shadow": maybe_key(
                {
                    "sample": scalar_or_odd,
                    "until": scalar_or_odd,
                    "expiry": scalar_or_odd,
                    "checks": maybe_key(
                        {
                            "regex": st.one_of(st.sampled_from(["(", "(a+)+$", "[", "\\"]), scalar_or_odd),
                            "json_schema": json_values,
                            "labels": st.one_of(st.lists(odd_text, max_size=3), scalar_or_odd),
                            "max_chars": number_or_odd,
                        }
                    ),
                    "mirror": maybe_key({"concurrency": number_or_odd, "timeout_s": number_or_odd}),
                }
            ),
            "notify": maybe_key(
                {"webhooks": scalar_or_odd, "retries": number_or_odd, "timeout_s": number_or_odd}
            ),
            "engines": st.one_of(
                st.dictionaries(
                    SLOT_NAMES,
                    maybe_key({"base": scalar_or_odd, "adapters": scalar_or_odd, "ctx_size": number_or_odd}),
                    max_size=2,
                ),
                scalar_or_odd,
            ),
        },
    )


def to_yaml(value: Any) -> str:
    try:
        return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return json.dumps(value, ensure_ascii=False)  # JSON is YAML too


#: YAML features a routing file never needs and a hostile or broken one may carry.
FRAGMENTS = [
    "&a [1, 2]", "*a", "<<: *a", "!!python/object/apply:os.system ['true']", "!!binary aGk=", "!!set {a, b}",
    "!!omap [a: 1]", "!!timestamp 2001-12-14", "!!float nan", "!!int 0x1F", "!custom x", "? [a, b]\n: c",
    "%YAML 1.1\n---", "%TAG ! tag:x,2000:\n---", "---", "...", "|\n  block", ">-\n  folded", "'", '"',
    "\t", "\x00", "\ufeff", "{", "[", "}", "]", ": :", "- - -", "&x *x", "a: &b\n  c: *b", "1e400",
    "123456789012345678901234567890", "0o17", "1_000", ".inf", "-.nan", "~", "yes", "on",
    "2001-12-14t21:59:43.10-05:00", "9" * 5000, "<<: [*a, 5]", "<<: 5", "!!merge x", "? !!set {a}\n: b",
    "? &k {a: 1}\n: *k", "!!str", "!!null x", "!!bool maybe", "!!int x", "!!float x", "!!map [1]",
    "!!seq {a: 1}", "0b102", "1:2:3", "- !!binary " + "A" * 40, "'" + "x" * 2000,
]  # fmt: skip
_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@st.composite
def mangled_yaml(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines)))
        fragment = draw(st.sampled_from(FRAGMENTS))
        how = draw(st.sampled_from(["line", "append", "indent", "duplicate"]))
        if how == "line" or not lines:
            lines.insert(at, fragment)
        elif how == "append":
            i = min(at, len(lines) - 1)
            lines[i] = lines[i] + " " + fragment
        elif how == "indent":
            lines.insert(at, "  " * draw(st.integers(1, 40)) + fragment)
        else:
            i = min(at, len(lines) - 1)
            lines.insert(i, lines[i])
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


def config_texts(endpoints: list[str]) -> st.SearchStrategy[str]:
    shaped = routing_config(endpoints).map(to_yaml)
    return st.one_of(
        shaped,
        shaped,
        shaped.flatmap(mangled_yaml),
        shaped.flatmap(mangled_yaml),
        json_values.map(to_yaml),
        st.text(max_size=300),
        st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("\n".join),
        st.sampled_from(
            [_BOMB, "[" * 10_000, "- " * 5_000 + "x", "a: " + "[" * 65 + "]" * 65, "a:\n" + "  - a:\n" * 70]
        ),
    )


def assert_loads_or_config_error(text: str) -> RoutingConfig | None:
    try:
        config = parse_config(text, "fuzz.yaml")
    except ConfigError:
        return None
    except BaseException as exc:
        raise Finding(f"parse_config raised {type(exc).__name__}: {exc}") from exc
    try:
        canary_analysis(config, "fuzz.yaml")
    except ConfigError:
        return None
    except BaseException as exc:
        raise Finding(f"canary_analysis of a parsed config raised {type(exc).__name__}: {exc}") from exc
    return config


ENDPOINTS = ["http://127.0.0.1:9", "127.0.0.1:11434", "localhost:8000"]


@settings(fuzz_settings(400), deadline=HANG_DEADLINE)
@given(text=config_texts(ENDPOINTS))
def test_parse_config_raises_only_config_error(text: str) -> None:
    assert_loads_or_config_error(text)


@settings(fuzz_settings(200), deadline=HANG_DEADLINE)
@given(
    data=st.one_of(
        config_texts(ENDPOINTS).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=200),
        st.tuples(config_texts(ENDPOINTS), st.sampled_from(BAD_UTF8), st.integers(0, 400)).map(
            lambda t: (
                t[0].encode("utf-8", "surrogatepass")[: t[2]]
                + t[1]
                + t[0].encode("utf-8", "surrogatepass")[t[2] :]
            )
        ),
        st.sampled_from([b"\xef\xbb\xbfactive_slot: blue\n", b"\xff\xfea\x00:\x00", b"a: 1\r\n" * 3]),
    )
)
def test_a_config_file_of_any_bytes_reads_as_a_config_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz-bytes.yaml"
    path.write_bytes(data)
    try:
        text = read_config_text(path)
    except ConfigError:
        return
    except BaseException as exc:
        raise Finding(f"read_config_text raised {type(exc).__name__}: {exc}") from exc
    assert_loads_or_config_error(text)


# The fuzzer's first finding: PyYAML's constructor raised AttributeError for these, which
# parse_config let out (a 500 on reload, a traceback at start).
@pytest.mark.parametrize(
    "text",
    [
        "active_slot: !!timestamp blue\nslots:\n  blue: {model: m, endpoint: 'http://127.0.0.1:9'}\n",
        "name: !!timestamp x\n",
        "!!timestamp 2001-12-14\n&a [1, 2]",
    ],
)
def test_an_explicit_timestamp_tag_on_another_value_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text, "fuzz.yaml")


# -- through a live gateway -------------------------------------------------------------


@pytest.fixture(scope="module")
def dead_endpoint() -> Iterator[str]:
    with refusing_endpoint() as url:
        yield url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, backends: Backends) -> Iterator[Site]:
    with served(tmp_path_factory.mktemp("fuzz-reload"), backends) as s:
        yield s


def serves(site: Site, what: str) -> None:
    """A plain chat request still gets an answer from a healthy backend."""
    resp = site.http.post(
        "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "refund"}]}
    )
    site.check_response(resp, f"a chat request after {what}")
    if resp.status_code != 200:
        raise Finding(f"a chat request after {what} -> {resp.status_code}: {resp.text[:500]}")


def test_reloading_a_file_with_an_explicit_timestamp_tag_is_refused_not_a_500(site: Site) -> None:
    (site.workdir / "slipway.yaml").write_text(
        f"active_slot: !!timestamp blue\nslots:\n  blue: {{model: m, endpoint: '{site.blue}'}}\n"
    )
    resp = site.http.post("/admin/reload", json={}, headers=site.auth())
    assert resp.status_code == 400, resp.text
    serves(site, "reloading a file with an explicit timestamp tag")


@fuzz_settings(50)
@given(data=st.data())
def test_reloading_any_file_keeps_the_gateway_serving(
    site: Site, dead_endpoint: str, data: st.DataObject
) -> None:
    """The file is rewritten, then `POST /admin/reload`: an answer below 500, and traffic still flows."""
    text = data.draw(config_texts([site.blue, site.green, dead_endpoint]), label="config")
    assert_loads_or_config_error(text)
    config_path: Path = site.workdir / "slipway.yaml"
    config_path.write_bytes(text.encode("utf-8", "surrogatepass"))
    resp = site.http.post("/admin/reload", json={}, headers=site.auth())
    what = f"POST /admin/reload of {text[:500]!r}"
    site.check_response(resp, what)
    serves(site, what)
