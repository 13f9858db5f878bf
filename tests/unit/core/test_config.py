"""The routing YAML: the seed's file verbatim, slipway's rich form, and errors that name line and field."""

from __future__ import annotations

import pytest

from slipway.core.config import dump_config, parse_config
from slipway.core.errors import ConfigError
from slipway.core.slot_config import normalize_endpoint
from slipway.core.types import BackendKind

SEED = """# Config: model_routing.yaml
active_slot: "green"
blue:
  model: "customer-support-v2.1"
  endpoint: "localhost:11434"
green:
  model: "customer-support-v2.2"
  endpoint: "localhost:11435"
"""

RICH = """name: customer-support
active_slot: blue
slots:
  blue:
    model: customer-support-v2.1
    endpoint: http://127.0.0.1:9001/v1
    kind: llamacpp
    adapter: v2.1-2026-01-15-1247examples
    timeouts: {connect: 2, read: 30}
  green:
    model: customer-support-v2.2
    endpoint: 127.0.0.1:9002
    kind: ollama
    upstream_model: cs:v2.2
    api_key_env: GREEN_KEY
weights: {blue: 95, green: 5}
"""


def test_seed_file_loads_as_written() -> None:
    table = parse_config(SEED, "model_routing.yaml").to_route_table(1)
    assert table.active == "green"
    assert table.slots["blue"].endpoint == "http://localhost:11434"
    assert table.slots["blue"].kind is BackendKind.OPENAI
    assert table.slots["green"].model == "customer-support-v2.2"
    assert table.effective_weights() == {"green": 10_000}


def test_rich_form() -> None:
    cfg = parse_config(RICH)
    table = cfg.to_route_table(3)
    blue, green = table.slots["blue"], table.slots["green"]
    assert blue.endpoint == "http://127.0.0.1:9001"
    assert blue.kind is BackendKind.LLAMACPP and blue.adapter == "v2.1-2026-01-15-1247examples"
    assert (blue.connect_timeout_s, blue.read_timeout_s) == (2, 30)
    assert green.backend_model == "cs:v2.2" and green.api_key_env == "GREEN_KEY"
    assert table.weights == {"blue": 9_500, "green": 500}
    assert table.name == "customer-support"


def test_dump_round_trips() -> None:
    table = parse_config(RICH).to_route_table(1)
    again = parse_config(dump_config(table, table.name)).to_route_table(1)
    assert again == table


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (SEED.replace('"localhost:11435"', '"localhost"'), 8, "green.endpoint", "no port"),
        (
            SEED.replace('active_slot: "green"', 'active_slot: "purple"'),
            2,
            "active_slot",
            "not a defined slot",
        ),
        (SEED + "  modle: x\n", 9, "green.modle", "unknown field"),
        (SEED.replace('  model: "customer-support-v2.1"\n', ""), 3, "blue.model", "required"),
        (RICH.replace("kind: ollama", "kind: tgi-x"), 13, "slots.green.kind", "Input should be"),
        (RICH.replace("{blue: 95, green: 5}", "{blue: 90, green: 5}"), 16, "weights", "sum to 95"),
        ("active_slot: [blue\n", 2, None, "not valid YAML"),
        ("- a\n- b\n", 1, None, "mapping"),
        ("", None, None, "empty"),
    ],
)
def test_errors_name_line_and_field(text: str, line: int | None, field: str | None, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "routing.yaml")
    err = info.value
    assert err.line == line
    assert err.field == field
    assert words in str(err)
    assert str(err).startswith("routing.yaml")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("localhost:11434", "http://localhost:11434"),
        ("http://10.0.0.1:8000/v1", "http://10.0.0.1:8000"),
        ("https://api.example.com/v1/", "https://api.example.com"),
        ("http://h:1/prefix", "http://h:1/prefix"),
    ],
)
def test_normalize_endpoint(raw: str, expected: str) -> None:
    assert normalize_endpoint(raw) == expected


@pytest.mark.parametrize("raw", ["", "ftp://x:1", "localhost", "http://:80", "localhost:notaport"])
def test_bad_endpoints(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_endpoint(raw)


ENGINE = """\
engines:
  support:
    base: models/cs/base/base.gguf
    adapters:
      - models/cs/adapters/v2.1-2026-01-15-1247examples.gguf
      - models/cs/adapters/v2.2-2026-02-12-1891examples.gguf
active_slot: blue
slots:
  blue: {model: cs-v2.1, engine: support, adapter: v2.1}
  green: {model: cs-v2.2, engine: support, adapter: v2.2-2026-02-12-1891examples.gguf}
"""


def test_engine_slots_run_on_a_named_engine_and_round_trip() -> None:
    cfg = parse_config(ENGINE)
    table = cfg.to_route_table(1)
    assert table.slots["blue"].endpoint == "engine://support"
    assert table.slots["blue"].kind is BackendKind.LLAMACPP
    assert cfg.engines["support"].adapters[1].endswith("v2.2-2026-02-12-1891examples.gguf")
    again = parse_config(dump_config(table, engines=cfg.engines)).to_route_table(1)
    assert again.slots == table.slots


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (
            ENGINE.replace("engine: support, adapter: v2.1", "engine: other"),
            9,
            "slots.blue.engine",
            "not defined",
        ),
        (
            ENGINE.replace("adapter: v2.1}", "adapter: v3.0}"),
            9,
            "slots.blue.adapter",
            "has not loaded adapter 'v3.0'",
        ),
        (
            ENGINE.replace("engine: support, adapter: v2.1", "endpoint: h:1, engine: support"),
            9,
            "slots.blue",
            "exactly one",
        ),
        (
            ENGINE.replace("engine: support, adapter: v2.1", "engine: support, kind: ollama"),
            9,
            "slots.blue",
            "llamacpp",
        ),
        (ENGINE.replace("    base: models/cs/base/base.gguf\n", ""), 2, "engines.support.base", "required"),
    ],
)
def test_engine_errors_name_line_and_field(text: str, line: int, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.yaml")
    assert (info.value.line, info.value.field) == (line, field), str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize("section", ["bake", "drift", "checklist", "adapter_probe", "shadow"])
def test_every_section_is_read_as_itself_never_as_a_slot(section: str) -> None:
    """A section holding a `model` key is a mistake in that section, not a slot named after it."""
    with pytest.raises(ConfigError) as info:
        parse_config(SEED + f"{section}:\n  model: x\n", "routing.yaml")
    assert info.value.field == f"{section}.model", str(info.value)
