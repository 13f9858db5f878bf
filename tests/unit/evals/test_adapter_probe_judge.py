"""Judging the adapter probe from answers: what counts as cross-talk, and what does not."""

from __future__ import annotations

from slipway.core.adapter_probe import ProbeName, ProbeTargets
from slipway.core.adapter_probe_config import AdapterProbeConfig
from slipway.core.types import BackendKind, Slot
from slipway.evals.adapter_probe import Answer, ProbePrompt, choose_names, judge_probe, probe_prompts
from slipway.evals.smoke import SmokeCase

SLOT = Slot(name="green", endpoint="http://127.0.0.1:1", model="a2", kind=BackendKind.VLLM)
BASE = ProbeName("base", SLOT, base=True)
A1 = ProbeName("a1", SLOT, source="/a1")
A2 = ProbeName("a2", SLOT, candidate=True, source="/a2")
NAMES = [A2, BASE, A1]
PROMPTS = [ProbePrompt("p1", {}), ProbePrompt("p2", {})]
TARGETS = ProbeTargets(one_at_a_time="with --max-num-seqs 1")
CONFIG = AdapterProbeConfig()


def refs(**answers: tuple[str, str]) -> list[Answer]:
    return [
        Answer(name, p.id, text)
        for name, texts in answers.items()
        for p, text in zip(PROMPTS, texts, strict=True)
    ]


REFS = refs(base=("b1", "b2"), a1=("x1", "x2"), a2=("y1", "y2"))


def test_an_answer_that_matches_nobodys_reference_is_unstable_not_cross_talk() -> None:
    mixed = [Answer("base", "p1", "b1"), Answer("base", "p2", "something else"), Answer("a2", "p1", "y1")]
    report = judge_probe(TARGETS, NAMES, PROMPTS, REFS, mixed, CONFIG)
    assert report.outcome == "passed"
    base = next(n for n in report.names if n.name == "base")
    assert (base.matched, base.unstable, base.cross_talk) == (1, 1, 0)
    assert "1 of 3 differed" in report.reason


def test_an_answer_equal_to_another_names_reference_is_cross_talk() -> None:
    mixed = [Answer("base", "p2", "y2"), Answer("a1", "p1", "x1")]
    report = judge_probe(TARGETS, NAMES, PROMPTS, REFS, mixed, CONFIG)
    assert report.outcome == "failed" and report.blocks
    assert [e.to_dict() for e in report.examples] == [
        {"name": "base", "prompt": "p2", "like": "a2", "answer": "y2"}
    ]
    assert "with --max-num-seqs 1" in report.fix


def test_failed_requests_are_counted_and_never_compared() -> None:
    mixed = [Answer("base", "p1", None, "HTTP 500"), Answer("a2", "p1", "y1")]
    report = judge_probe(TARGETS, NAMES, PROMPTS, REFS, mixed, CONFIG)
    assert report.outcome == "passed"
    assert next(n for n in report.names if n.name == "base").errors == 1


def test_nothing_compared_fails_rather_than_passing_silently() -> None:
    broken = [Answer(a.name, a.prompt_id, None, "refused") for a in REFS]
    report = judge_probe(TARGETS, NAMES, PROMPTS, broken, [Answer("a2", "p1", "y1")], CONFIG)
    assert report.outcome == "failed"
    assert "no mixed answer could be compared" in report.reason


def test_identical_to_another_adapter_is_a_note_and_not_a_failure() -> None:
    same = refs(base=("b1", "b2"), a1=("y1", "y2"), a2=("y1", "y2"))
    report = judge_probe(TARGETS, NAMES, PROMPTS, same, [Answer("a2", "p1", "y1")], CONFIG)
    assert report.outcome == "passed" and not report.identical
    assert "exactly like adapter a1" in report.notes[0]
    assert "note: adapter a2 answered exactly like adapter a1" in report.render_text()
    twin = ProbeName("a1", SLOT, source="/a2")
    report = judge_probe(TARGETS, [A2, BASE, twin], PROMPTS, same, [Answer("a2", "p1", "y1")], CONFIG)
    assert not report.notes


def test_a_base_model_candidate_is_not_asked_to_differ() -> None:
    base_candidate = ProbeName("base", SLOT, candidate=True, base=True)
    same = refs(base=("y1", "y2"), a1=("x1", "x2"), a2=("y1", "y2"))
    report = judge_probe(
        TARGETS, [base_candidate, A1, A2], PROMPTS, same, [Answer("base", "p1", "y1")], CONFIG
    )
    assert not report.identical


def test_names_are_chosen_candidate_then_base_and_the_rest_listed() -> None:
    chosen, left = choose_names([A1, BASE, A2, ProbeName("a3", SLOT)], 3)
    assert [n.name for n in chosen] == ["a2", "base", "a1"]
    assert left == ["a3"]


def test_prompts_come_from_the_config_first_and_are_bounded() -> None:
    cases = [SmokeCase(id=f"c{i}", prompt=f"q{i}") for i in range(5)]
    assert [p.id for p in probe_prompts(cases, AdapterProbeConfig(max_prompts=3))] == ["c0", "c1", "c2"]
    mine = probe_prompts(cases, AdapterProbeConfig(prompts=["refund?"]))
    request = mine[0].request("a2", AdapterProbeConfig(prompts=["refund?"], max_tokens=5, seed=3))
    assert request == {
        "messages": [{"role": "user", "content": "refund?"}],
        "model": "a2",
        "temperature": 0,
        "seed": 3,
        "max_tokens": 5,
        "stream": False,
    }


def test_names_left_out_stay_few_and_short_whatever_the_server_lists() -> None:
    listed = [A2, BASE, *(ProbeName(f"x{i}", SLOT) for i in range(40)), ProbeName("y" * 300, SLOT)]
    chosen, left = choose_names(listed, 3)
    assert [n.name for n in chosen] == ["a2", "base", "x0"]
    assert left == [*(f"x{i}" for i in range(1, 11)), "29 more", "1 with a name over 256 characters"]
