"""Config files written by a careless hand or an attacker: each is refused with a ConfigError that says why.

`parse_config` may raise nothing but ConfigError whatever the text: the
config watcher and `/admin/reload` keep the running configuration on exactly
that error, so anything else would stop them.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from slipway.core.config import parse_config
from slipway.core.config_yaml import MAX_CONFIG_BYTES, MAX_CONFIG_VALUES, read_config_text
from slipway.core.errors import ConfigError

BASE = """\
active_slot: blue
slots:
  blue: {model: cs-v2.1, endpoint: "127.0.0.1:9001"}
  green: {model: cs-v2.2, endpoint: "127.0.0.1:9002"}
"""

#: 9 levels of 9 aliases each: 400-odd bytes that name hundreds of millions of strings.
ALIAS_BOMB = "".join(
    [f"a: &a [{','.join(['lol'] * 9)}]\n"]
    + [
        f"{name}: &{name} [{','.join(['*' + prev] * 9)}]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def slot(extra: str, name: str = "blue") -> str:
    """BASE with `extra` added inside one slot's flow mapping."""
    port = "9001" if name == "blue" else "9002"
    return BASE.replace(f'endpoint: "127.0.0.1:{port}"}}', f'endpoint: "127.0.0.1:{port}", {extra}}}')


NUMBERS = [
    # (text, field, value shown, range shown)
    (BASE + "weights: {blue: .nan, green: 100}\n", "weights.blue", "nan", "0 to 100 (percent)"),
    (BASE + "weights: {blue: .inf, green: 0}\n", "weights.blue", "inf", "0 to 100"),
    (BASE + "weights: {blue: -5, green: 105}\n", "weights.blue", "-5", "0 to 100"),
    (slot("timeouts: {read: .nan}"), "slots.blue.timeouts.read", "nan", "above 0 and at most 86,400"),
    (slot("timeouts: {connect: .inf}"), "slots.blue.timeouts.connect", "inf", "at most 600"),
    (slot("timeouts: {connect: 0}"), "slots.blue.timeouts.connect", "0", "above 0"),
    (BASE + "gateway: {max_body_bytes: 1e30}\n", "gateway.max_body_bytes", "1e+30", "1,073,741,824"),
    (BASE + "gateway: {record_queue_size: -1}\n", "gateway.record_queue_size", "-1", "1 to 10,000,000"),
    (BASE + "gateway: {record_flush_interval_s: .nan}\n", "gateway.record_flush_interval_s", "nan", "60"),
    (BASE + "notify: {retries: 1000}\n", "notify.retries", "1,000", "0 to 10"),
    (BASE + "notify: {timeout_s: -.inf}\n", "notify.timeout_s", "-inf", "300"),
    (BASE + "notify: {retries: true}\n", "notify.retries", "true", "0 to 10"),
    (BASE + "shadow: {mirror: {queue: 0}}\n", "shadow.mirror.queue", "0", "1 to 1,000,000"),
    (BASE + "shadow: {decision: {confidence: .nan}}\n", "shadow.decision.confidence", "nan", "above 0.5"),
    (BASE + "shadow: {checks: {max_chars: 1e99}}\n", "shadow.checks.max_chars", "1e+99", "10,000,000"),
    (
        "engines:\n  e: {base: b.gguf, port: 70000}\n" + BASE,
        "engines.e.port",
        "70,000",
        "0 to 65,535",
    ),
]


@pytest.mark.parametrize(("text", "field", "value", "allowed"), NUMBERS)
def test_every_number_is_finite_and_in_range_and_the_error_names_field_value_and_range(
    text: str, field: str, value: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "routing.yaml")
    message = str(info.value)
    assert info.value.field == field, message
    assert info.value.line is not None, message
    assert f"{value} is" in message and allowed in message, message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (BASE + "canary: {thresholds: {alpha: .nan}}\n", "canary.thresholds.alpha"),
        (
            BASE + "canary: {thresholds: {accuracy: {threshold: .inf}}}\n",
            "canary.thresholds.accuracy.threshold",
        ),
        (BASE + "shadow: {checks: {json_schema: {maximum: .inf}}}\n", "shadow.checks.json_schema.maximum"),
    ],
)
def test_no_number_anywhere_may_be_nan_or_infinite_even_in_free_form_sections(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "routing.yaml")
    assert info.value.field == field and "not a finite number" in str(info.value), str(info.value)


LABELS = [
    (slot('version: "v1\\r\\nSet-Cookie: pwned=1"'), "slots.blue.version", "'v1\\r\\nSet-Cookie: pwned=1'"),
    (slot('upstream_model: "m\\n"'), "slots.blue.upstream_model", "'m\\n'"),
    (BASE.replace("model: cs-v2.1", 'model: "cs\\u0000"'), "slots.blue.model", "'cs\\x00'"),
    (slot('adapter: "v2.1\\r"'), "slots.blue.adapter", "'v2.1\\r'"),
    (slot('api_key_env: "KEY; rm -rf"'), "slots.blue.api_key_env", "'KEY; rm -rf'"),
    (
        BASE.replace('"127.0.0.1:9001"', '"127.0.0.1:9001\\r\\n"'),
        "slots.blue.endpoint",
        "'127.0.0.1:9001\\r\\n'",
    ),
    (BASE.replace("  green:", "  ../../x:"), "slots.../../x", "'../../x'"),
    (
        'active_slot: blue\nblue: {model: m, endpoint: "h:1"}\n../x: {model: m, endpoint: "h:2"}\n',
        "../x",
        "'../x'",
    ),
    ('name: "cs\\r\\n"\n' + BASE, "name", "'cs\\r\\n'"),
    (BASE + 'gateway: {public_model: "a\\tb"}\n', "gateway.public_model", "'a\\tb'"),
    (BASE + 'notify: {webhooks: ["https://h/x\\r\\nX: y"]}\n', "notify.webhooks", "'https://h/x\\r\\nX: y'"),
    (BASE + 'shadow: {judge: {endpoint: "h:1\\n", model: j}}\n', "shadow.judge.endpoint", "'h:1\\n'"),
]


@pytest.mark.parametrize(("text", "field", "shown"), LABELS)
def test_names_and_labels_in_the_file_follow_the_one_rule(text: str, field: str, shown: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "routing.yaml")
    message = str(info.value)
    assert info.value.field == field, message
    assert shown in message and "is not allowed" in message, message
    assert "\r" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (BASE + "active_slot: green\n", (1, 5)),
        (BASE.replace("  green:", "  blue:"), (3, 4)),
        ('active_slot: blue\nslots:\n  blue: {model: a, endpoint: "h:1", model: b}\n', (3, 3)),
    ],
)
def test_a_duplicate_key_is_refused_with_the_line_of_both(text: str, lines: tuple[int, int]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "routing.yaml")
    assert f"on lines {lines[0]} and {lines[1]}" in str(info.value), str(info.value)
    assert info.value.line == lines[1]


def test_aliases_are_fine_while_they_stay_small() -> None:
    text = BASE.replace(
        '"127.0.0.1:9001"}', '"127.0.0.1:9001", timeouts: &t {connect: 2, read: 30}}'
    ).replace('"127.0.0.1:9002"}', '"127.0.0.1:9002", timeouts: *t}')
    table = parse_config(text).to_route_table(1)
    assert table.slots["green"].read_timeout_s == 30


def test_an_alias_bomb_is_refused_at_once_with_the_limit() -> None:
    assert len(ALIAS_BOMB) < 500
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + ALIAS_BOMB, "routing.yaml")
    assert f"the limit is {MAX_CONFIG_VALUES:,}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: &a [*a]\n", "loop"),
        ("[" * 5000 + "]" * 5000, "nest"),
        ("".join("  " * i + f"k{i}:\n" for i in range(100)), "nested more than 64"),
        ("x" * (MAX_CONFIG_BYTES + 1), "at most 1,048,576 bytes"),
        ("[" + "1," * 20_000 + "1]", "more than 10,000 values"),
        ("".join(f"k{i}: 1\n" for i in range(6_000)), "more than 10,000 values"),
        ("\x00\x01binary", "not valid YAML"),
        (BASE + "---\n" + BASE, "not valid YAML"),
        ("? [a, b]\n: 1\n", "not valid YAML"),
        ("!!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
        (BASE + "canary: {steps: 'sNaN%:1h,100%'}\n", "not a percentage"),
        (BASE + "canary: {hold_limit: 99999999999d}\n", "longer than 366 days"),
        ("active_slot: blue\nslots: [1, 2]\n", "slots"),
        ("active_slot: blue\nslots:\n  1: {model: m, endpoint: 'h:1'}\n", "valid string"),
        (BASE.replace("model: cs-v2.1", "model: 2024-01-01"), "valid string"),
        ("12\n", "mapping"),
        ("name: !!timestamp x\n", "could not be read"),
        ("active_slot: !!timestamp blue\n", "could not be read"),
    ],
)
def test_hostile_or_broken_files_are_config_errors(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config(text, "routing.yaml")


def test_random_garbage_only_ever_raises_config_error() -> None:
    """Mutations of a valid file (a seeded fuzz): never a crash, never anything but ConfigError."""
    rng = random.Random(9)
    alphabet = [*"{}[]:,&*!|>-?'\"#%@` \n\t\r.0123456789eE+naninfNaNInf", "\x00", "\u2028", "\ufeff"]
    base = BASE + "weights: {blue: 50, green: 50}\ncanary: {steps: '5%:2h,100%', interval: 15m}\n"
    for _ in range(3000):
        chars = list(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.4:
                chars[at] = rng.choice(alphabet)
            elif op < 0.7:
                chars.insert(at, rng.choice(alphabet))
            else:
                del chars[at]
        text = "".join(chars)
        try:
            parse_config(text, "fuzz.yaml")
        except ConfigError:
            pass


def test_read_config_text_refuses_what_is_not_a_small_utf8_file(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (10 * 1024 * 1024))
    with pytest.raises(ConfigError, match="at most 1,048,576 bytes"):
        read_config_text(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"active_slot: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_config_text(binary)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_config_text(tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_config_text(tmp_path / "missing.yaml")
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_config_text(fifo)
    good = tmp_path / "ok.yaml"
    good.write_text(BASE)
    assert read_config_text(good) == BASE


def test_the_pure_python_parser_applies_the_same_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    import slipway.core.config_yaml as config

    monkeypatch.setattr(config, "_Loader", yaml.SafeLoader)
    with pytest.raises(ConfigError, match="limit is"):
        parse_config(BASE + ALIAS_BOMB)
    with pytest.raises(ConfigError, match="nested more than"):
        parse_config("[" * 5000 + "]" * 5000)
    assert parse_config(BASE).active_slot == "blue"
