"""The shipped examples work together: every smoke case is answered right by both sim profiles,
every time, so the README's drill deploys whatever the dice say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slipway.backends.sim import load_profile
from slipway.backends.sim.behaviour import Simulator

REPO = Path(__file__).parents[3]
SMOKE = REPO / "examples" / "smoke" / "support-smoke.jsonl"
PROFILES = ["support-classifier.yaml", "support-classifier-regressed.yaml"]


def _cases() -> list[dict[str, object]]:
    return [json.loads(line) for line in SMOKE.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", PROFILES)
def test_every_smoke_case_is_answered_right_by_the_shipped_profiles_on_every_draw(name: str) -> None:
    profile = load_profile(REPO / "examples" / "sim" / name)
    for seed in range(200):
        sim = Simulator(profile, seed=seed)
        for case in _cases():
            prompt = str(case["prompt"])
            expect = case["expect"]
            assert isinstance(expect, dict)
            category = sim.categorize(None, prompt)
            assert category == expect["label"], f"{case['id']} falls in {category!r} in {name}"
            plan = sim.plan(category, None, prompt)
            assert plan.label == expect["label"] and plan.error is None, (case["id"], seed)


def test_the_profile_comment_names_the_port_the_readme_uses() -> None:
    text = (REPO / "examples" / "sim" / "support-classifier.yaml").read_text(encoding="utf-8")
    assert "support-classifier.yaml --port 11434" in text
    assert "support-classifier.yaml --port 11435" not in text
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "examples/sim/support-classifier.yaml --port 11434" in readme
    assert "examples/sim/support-classifier-regressed.yaml --port 11435" in readme
