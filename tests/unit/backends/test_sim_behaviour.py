"""The simulator's decisions and its profile schema, without a server: statistics over many draws."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from slipway.backends.sim import ErrorMode, SimProfile, Simulator, load_profile, parse_profile
from slipway.backends.sim.behaviour import Sampler
from slipway.backends.sim.profile import Dist
from slipway.core.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "sim"
LABELS = ["billing", "account", "shipping", "technical"]


def profile(**default: object) -> SimProfile:
    return SimProfile.model_validate(
        {
            "model": "m",
            "default": {"labels": LABELS, **default},
            "categories": {
                "billing": {"keywords": ["refund", "invoice", "credit card"]},
                "account": {"keywords": ["password"], "true_label": "account"},
                "shipping": {"keywords": ["c.o.d."]},
            },
        }
    )


# --- answers -----------------------------------------------------------------------------------


def test_accuracy_is_the_share_of_true_labels_and_misses_are_uniform() -> None:
    sim = Simulator(profile(accuracy=0.8), seed=1)
    labels = Counter(sim.plan("billing").label for _ in range(20_000))
    assert labels["billing"] / 20_000 == pytest.approx(0.8, abs=0.015)
    misses = [labels[other] for other in ("account", "shipping", "technical")]
    for count in misses:
        assert count / sum(misses) == pytest.approx(1 / 3, abs=0.03)


def test_a_category_section_overrides_default_field_by_field() -> None:
    p = SimProfile.model_validate(
        {
            "model": "m",
            "default": {"labels": LABELS, "accuracy": 0.5, "latency_ms": 40},
            "categories": {"billing": {"accuracy": 1.0}},
        }
    )
    billing, default = p.spec("billing"), p.spec("default")
    assert (billing.accuracy, billing.latency_ms.value, billing.true_label) == (1.0, 40, "billing")
    assert (default.accuracy, default.true_label) == (0.5, None)


def test_a_pattern_overrides_the_category_for_matching_inputs_and_keeps_its_true_label() -> None:
    p = SimProfile.model_validate(
        {
            "model": "m",
            "default": {"labels": LABELS, "accuracy": 1.0, "latency_ms": 5},
            "categories": {"billing": {"keywords": ["refund"]}, "shipping": {}},
            "patterns": [
                {"match": "```", "accuracy": 0.0, "latency_ms": 90},
                {"match": "never", "accuracy": 0.5},
            ],
        }
    )
    sim = Simulator(p, seed=3)
    plain = [sim.plan("shipping", text="where is my parcel") for _ in range(200)]
    code = [sim.plan("shipping", text="my script ```print(1)``` fails") for _ in range(200)]
    assert all(plan.label == "shipping" for plan in plain)
    assert all(plan.label != "shipping" and plan.true_label == "shipping" for plan in code)
    assert {plan.total_s for plan in code} == {0.09} and {plan.total_s for plan in plain} == {0.005}


def test_a_pattern_that_is_not_a_regular_expression_is_refused_with_its_line() -> None:
    text = "model: m\ndefault: {labels: [a, b]}\npatterns:\n  - {match: '(unclosed', accuracy: 0.5}\n"
    with pytest.raises(ConfigError) as err:
        parse_profile(text, "p.yaml")
    assert "patterns" in str(err.value) and "regular expression" in str(err.value)


def test_without_ground_truth_the_answer_is_any_label() -> None:
    sim = Simulator(profile(accuracy=0.99), seed=2)
    plans = [sim.plan("default") for _ in range(4_000)]
    assert {p.correct for p in plans} == {None}
    assert Counter(p.label for p in plans).keys() == set(LABELS)


def test_an_unknown_header_category_that_is_a_label_is_its_own_truth() -> None:
    sim = Simulator(profile(accuracy=1.0), seed=3)
    plan = sim.plan("technical")
    assert (plan.category, plan.true_label, plan.label, plan.correct) == (
        "technical",
        "technical",
        "technical",
        True,
    )


def test_output_is_the_label_then_filler_and_max_tokens_truncates() -> None:
    sim = Simulator(profile(output_tokens=5), seed=4)
    plan = sim.plan("billing")
    assert plan.tokens[0] == "billing" and len(plan.tokens) == 5
    assert all(t.startswith(" ") for t in plan.tokens[1:])
    assert plan.finish_reason == "stop"
    short = sim.plan("billing", max_tokens=2)
    assert (len(short.tokens), short.finish_reason) == (2, "length")


def test_same_seed_same_answers_and_different_seed_different_answers() -> None:
    def run(seed: int) -> list[tuple[str, float]]:
        sim = Simulator(profile(accuracy=0.6, latency_ms={"dist": "lognormal", "p50": 50, "p95": 90}), seed)
        return [(p.label, p.total_s) for p in (sim.plan("billing") for _ in range(200))]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_the_profile_seed_applies_unless_one_is_passed() -> None:
    p = SimProfile.model_validate({"model": "m", "seed": 11, "default": {"labels": ["a"]}})
    assert Simulator(p).seed == 11
    assert Simulator(p, seed=5).seed == 5


# --- failures ----------------------------------------------------------------------------------


def test_error_rate_and_mode_weights() -> None:
    sim = Simulator(profile(error_rate=0.2, error_mode={500: 3, "timeout": 1}), seed=5)
    errors = Counter(sim.plan("shipping").error for _ in range(20_000))
    failed = 20_000 - errors[None]
    assert failed / 20_000 == pytest.approx(0.2, abs=0.01)
    assert errors[ErrorMode.HTTP_500] / failed == pytest.approx(0.75, abs=0.03)
    assert errors[ErrorMode.TIMEOUT] / failed == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize(
    ("written", "mode"),
    [(503, ErrorMode.HTTP_503), ("429", ErrorMode.HTTP_429), ("disconnect_mid_stream", ErrorMode.DISCONNECT)],
)
def test_a_single_error_mode_can_be_written_bare(written: object, mode: ErrorMode) -> None:
    sim = Simulator(profile(error_rate=1.0, error_mode=written), seed=6)
    assert sim.plan("billing").error is mode


# --- timing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dist", "p50", "p95"),
    [
        ({"dist": "lognormal", "p50": 100, "p95": 250}, 100, 250),
        ({"dist": "normal", "p50": 100, "p95": 150}, 100, 150),
        ({"dist": "uniform", "min": 50, "max": 150}, 100, 145),
        (30, 30, 30),
    ],
)
def test_distributions_hit_their_declared_percentiles(dist: object, p50: float, p95: float) -> None:
    sampler = Sampler(Dist.model_validate(dist))
    rng = np.random.default_rng(9)
    draws = np.array([sampler.draw(rng) for _ in range(40_000)])
    assert np.percentile(draws, 50) == pytest.approx(p50, rel=0.03)
    assert np.percentile(draws, 95) == pytest.approx(p95, rel=0.03)
    assert draws.min() >= 0


def test_latency_is_the_total_and_ttft_is_what_pacing_leaves() -> None:
    sim = Simulator(profile(latency_ms=100, output_tokens=5, stream_interval_ms=10), seed=1)
    plan = sim.plan("billing")
    assert plan.ttft_s == pytest.approx(0.06)
    assert plan.token_at(4) == pytest.approx(0.1)
    assert plan.total_s == pytest.approx(0.1)


def test_pacing_longer_than_latency_stretches_the_total() -> None:
    sim = Simulator(profile(latency_ms=50, ttft_ms=40, output_tokens=4, stream_interval_ms=20), seed=1)
    plan = sim.plan("billing")
    assert (plan.ttft_s, plan.total_s) == pytest.approx((0.04, 0.1))


# --- categorisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "text", "category"),
    [
        (None, "I need a REFUND for this order", "billing"),
        (None, "my Credit  Card was declined", "billing"),
        (None, "I forgot my password, and where is my invoice?", "account"),
        (None, "refunded already, thanks", "default"),
        (None, "can I pay c.o.d.?", "shipping"),
        (None, "can I pay cod?", "default"),
        (None, "", "default"),
        ("shipping", "refund please", "shipping"),
        ("  ", "refund please", "billing"),
        ("vip", "refund please", "vip"),
    ],
)
def test_categorize_header_then_first_keyword_then_default(
    header: str | None, text: str, category: str
) -> None:
    assert Simulator(profile()).categorize(header, text) == category


def test_ad_hoc_categories_from_headers_are_bounded() -> None:
    sim = Simulator(profile(), seed=1)
    names = {sim.plan(f"c{i}").category for i in range(1_000)}
    assert len(names) < 300 and "_other" in names


# --- the example and the errors a profile author sees -----------------------------------------


def test_the_example_profile_loads_and_classifies() -> None:
    p = load_profile(EXAMPLES / "support-classifier.yaml")
    sim = Simulator(p, seed=1)
    assert set(p.categories) == set(LABELS)
    assert sim.categorize(None, "The app doesn't work since the update") == "technical"
    assert sim.categorize(None, "Where is my parcel?") == "shipping"
    assert all(len(sim.plan(c).tokens) == 1 for c in LABELS)
    assert load_profile(EXAMPLES / "support-classifier-regressed.yaml").spec("billing").accuracy < 0.9


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("model: m\ndefault:\n  labels: [a, b]\n  acuracy: 0.5\n", ":4: default.acuracy", "unknown field"),
        (
            "model: m\ndefault:\n  labels: [a, b]\n  accuracy: 1.5\n",
            ":4: default.accuracy",
            "less than or equal",
        ),
        (
            "model: m\ndefault:\n  labels: [a, b]\n  latency_ms: {dist: lognormal, p50: 100}\n",
            ":4: default.latency_ms",
            "needs p95",
        ),
        (
            "model: m\ndefault:\n  labels: [a, b]\n  latency_ms: {dist: constant, value: 1, p95: 3}\n",
            ":4: default.latency_ms",
            "does not apply",
        ),
        (
            "model: m\ndefault: {labels: [a, b]}\ncategories:\n  c:\n    accuracy: 0.9\n",
            ":4: categories.c.true_label",
            "not among labels",
        ),
        (
            "model: m\ndefault: {labels: [a, b]}\ncategories:\n  a: {keywords: [x]}\n  b: {keywords: [X]}\n",
            ":5: categories.b.keywords",
            "also listed under a",
        ),
        ("model: m\ndefault:\n  labels: [a]\n  error_mode: 502\n", ":4: default.error_mode", "'500'"),
        ("model: m\ndefault: {labels: [a], accuracy: 0.5}\n", ":2: default.accuracy", "second label"),
        ("model: m\n", ":1: default.labels", "no labels"),
        ("default: {labels: [a]}\n", ":1: model", "add `model: …` at the top level"),
        ("model: m\n  default: [\n", ":2", "not valid YAML"),
        ("", ":1", "a profile is a mapping"),
    ],
)
def test_profile_errors_name_file_line_field_and_fix(text: str, where: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_profile(text, source="drill.yaml")
    message = str(caught.value)
    assert message.startswith("drill.yaml" + where), message
    assert says in message
    assert caught.value.hint


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_profile(tmp_path / "nope.yaml")
