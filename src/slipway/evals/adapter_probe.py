"""Judging the adapter probe: does each name answer as itself when the names share a batch?

Two questions, both from greedy answers (temperature 0, a fixed seed), so a
name's answer to a prompt is a fixed string:

- Does the candidate adapter change anything? Its sequential answers are
  compared with its base's; identical on every prompt means the adapter is
  not in effect (a wrong file, LoRA weights of zero, or an engine that does
  not apply it), which no single-name smoke test can see. Identical to
  another adapter is only a note: two versions of one fine-tune often agree
  on every representative prompt, and that is not a fault.
- Cross-talk: each answer from the concurrent mixed batch is compared with
  the same name's sequential answer. One that differs and equals another
  name's sequential answer was computed with the other name's weights.
  An answer that differs and matches nobody's is counted as unstable (batched
  arithmetic can change a greedy answer) but is not called cross-talk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal

from slipway.core.adapter_probe import ProbeName, ProbeTargets
from slipway.core.adapter_probe_config import AdapterProbeConfig

if TYPE_CHECKING:  # smoke.py imports this module for its report
    from slipway.evals.smoke import SmokeCase

MAX_EXAMPLES: Final = 3
HEAD_CHARS: Final = 60
#: A backend lists the names: one longer than this is not probed (nor repeated in the record).
MAX_NAME_CHARS: Final = 256
#: Names left out are listed up to this many, then counted, so a server listing thousands stays small.
MAX_LEFT_OUT: Final = 10

Outcome = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class ProbePrompt:
    """A probe prompt: an OpenAI request body without its model, from a smoke case or the config."""

    id: str
    body: Mapping[str, Any]

    def request(self, model: str, config: AdapterProbeConfig) -> dict[str, Any]:
        """Deterministic and short: greedy, seeded, bounded by the probe's own max_tokens."""
        return {
            **self.body,
            "model": model,
            "temperature": 0,
            "seed": config.seed,
            "max_tokens": config.max_tokens,
            "stream": False,
        }


def probe_prompts(cases: Sequence[SmokeCase], config: AdapterProbeConfig) -> list[ProbePrompt]:
    """The configured prompts if any, else the smoke cases' own; at most `max_prompts`."""
    if config.prompts:
        chosen = [
            ProbePrompt(f"probe-{i}", {"messages": [{"role": "user", "content": text}]})
            for i, text in enumerate(config.prompts, start=1)
        ]
    else:
        chosen = []
        for case in cases:
            body = case.to_openai_request("")
            body.pop("model", None)
            chosen.append(ProbePrompt(case.id, body))
    return chosen[: config.max_prompts]


def choose_names(names: Sequence[ProbeName], limit: int) -> tuple[list[ProbeName], list[str]]:
    """The candidate, then the bases, then other adapters, up to `limit`; and the names left out."""
    fit = [n for n in names if n.candidate or len(n.name) <= MAX_NAME_CHARS]
    ordered = sorted(fit, key=lambda n: (not n.candidate, not n.base))
    rest = [n.name for n in ordered[limit:]]
    left_out = rest[:MAX_LEFT_OUT]
    if len(rest) > MAX_LEFT_OUT:
        left_out.append(f"{len(rest) - MAX_LEFT_OUT} more")
    if len(fit) < len(names):
        left_out.append(f"{len(names) - len(fit)} with a name over {MAX_NAME_CHARS} characters")
    return list(ordered[:limit]), left_out


@dataclass(frozen=True, slots=True)
class Answer:
    """One probe request's outcome: the answer text, or why there was none."""

    name: str
    prompt_id: str
    text: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NameCounts:
    name: str
    candidate: bool
    base: bool
    mixed: int = 0
    matched: int = 0
    cross_talk: int = 0
    unstable: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "candidate": self.candidate,
            "base": self.base,
            "mixed": self.mixed,
            "matched": self.matched,
            "cross_talk": self.cross_talk,
            "unstable": self.unstable,
            "errors": self.errors,
        }


@dataclass(frozen=True, slots=True)
class CrossTalk:
    """One answer sent to `name` that is exactly `like`'s sequential answer to the same prompt."""

    name: str
    prompt_id: str
    like: str
    answer_head: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "prompt": self.prompt_id, "like": self.like, "answer": self.answer_head}


@dataclass(frozen=True, slots=True)
class ProbeReport:
    outcome: Outcome
    mode: Literal["required", "warn"] = "required"
    reason: str = ""
    names: tuple[NameCounts, ...] = ()
    prompts: int = 0
    rounds: int = 0
    concurrency: int = 0
    max_tokens: int = 0
    examples: tuple[CrossTalk, ...] = ()
    #: Sentences saying which names the candidate adapter answered exactly like.
    identical: tuple[str, ...] = ()
    #: Notes that change no verdict: the candidate answered exactly like another adapter.
    notes: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    reference_errors: int = 0
    fix: str = ""
    problems: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        """A failed probe in required mode fails the smoke test; in warn mode it is only reported."""
        return self.outcome == "failed" and self.mode == "required"

    @property
    def cross_talk(self) -> int:
        return sum(n.cross_talk for n in self.names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "mode": self.mode,
            "blocks": self.blocks,
            "reason": self.reason,
            "text": self.render_text(),
            "prompts": self.prompts,
            "rounds": self.rounds,
            "concurrency": self.concurrency,
            "max_tokens": self.max_tokens,
            "cross_talk": self.cross_talk,
            "names": [n.to_dict() for n in self.names],
            "examples": [e.to_dict() for e in self.examples],
            "identical": list(self.identical),
            "notes": list(self.notes),
            "left_out": list(self.left_out),
            "reference_errors": self.reference_errors,
            "problems": list(self.problems),
            "fix": self.fix,
        }

    def render_text(self) -> str:
        if self.outcome == "skipped":
            return f"adapter probe skipped: {self.reason}"
        shape = (
            f"{len(self.names)} names x {self.prompts} prompts, {self.rounds} mixed rounds at concurrency "
            f"{self.concurrency}"
        )
        if self.outcome == "passed":
            lines = [f"adapter probe passed ({shape}): {self.reason}"]
        else:
            verdict = "FAILED" if self.mode == "required" else "WARNING (mode: warn, the deploy went on)"
            lines = [f"adapter probe {verdict} ({shape})"]
            lines.extend(f"  {p}" for p in self.problems)
        for n in self.names:
            if n.cross_talk or n.unstable or n.errors:
                role = " (candidate)" if n.candidate else " (base)" if n.base else ""
                lines.append(
                    f"  {n.name}{role}: {n.cross_talk} of {n.mixed} mixed answers were another name's, "
                    f"{n.unstable} differed otherwise, {n.errors} failed"
                )
        for e in self.examples:
            lines.append(f"  e.g. {e.name} on {e.prompt_id!r} answered like {e.like}: {e.answer_head!r}")
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.left_out:
            lines.append(f"  not probed (adapter_probe.max_names): {', '.join(self.left_out)}")
        if self.fix and self.outcome == "failed":
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


def skipped(reason: str, config: AdapterProbeConfig) -> ProbeReport:
    return ProbeReport("skipped", config.mode, reason=reason)


def could_not_run(reason: str, config: AdapterProbeConfig) -> ProbeReport:
    return ProbeReport(
        "failed",
        config.mode,
        reason=reason,
        problems=(f"the probe could not be run: {reason}",),
        fix="fix what the message names and deploy again, or set adapter_probe: {enabled: false} to skip it",
    )


def judge_probe(
    targets: ProbeTargets,
    names: Sequence[ProbeName],
    prompts: Sequence[ProbePrompt],
    references: Sequence[Answer],
    mixed: Sequence[Answer],
    config: AdapterProbeConfig,
    left_out: Sequence[str] = (),
) -> ProbeReport:
    """The probe's verdict from the sequential references and the mixed batch's answers."""
    ref: dict[tuple[str, str], str] = {
        (a.name, a.prompt_id): a.text for a in references if a.text is not None and a.error is None
    }
    ref_errors = sum(1 for a in references if a.text is None or a.error is not None)
    counts = {n.name: _Tally() for n in names}
    examples: list[CrossTalk] = []
    for a in mixed:
        tally = counts[a.name]
        tally.mixed += 1
        own = ref.get((a.name, a.prompt_id))
        if a.text is None or a.error is not None or own is None:
            tally.errors += 1
            continue
        if a.text == own:
            tally.matched += 1
            continue
        like = next(
            (n.name for n in names if n.name != a.name and ref.get((n.name, a.prompt_id)) == a.text), None
        )
        if like is None:
            tally.unstable += 1
            continue
        tally.cross_talk += 1
        if len(examples) < MAX_EXAMPLES:
            examples.append(CrossTalk(a.name, a.prompt_id, like, _head(a.text)))

    identical, notes = _identical(names, prompts, ref)
    compared = sum(t.matched + t.cross_talk + t.unstable for t in counts.values())
    problems: list[str] = []
    cross = sum(t.cross_talk for t in counts.values())
    fixes: list[str] = []
    if cross:
        worst = ", ".join(f"{name} {t.cross_talk} of {t.mixed}" for name, t in counts.items() if t.cross_talk)
        problems.append(
            f"cross-talk under concurrent mixed traffic: {cross} answers were another name's ({worst}); "
            "the engine mixes up model names it batches together, so users of one name get another's answers"
        )
        fixes.append(
            f"this is the engine's bug, not the model's: run the engine {targets.one_at_a_time} (slower, "
            "but correct), or move to an engine release without it, or accept it knowingly with "
            "adapter_probe: {mode: warn}"
        )
    if identical:
        problems.extend(identical)
        fixes.append(
            "check the adapter file (the right version, non-zero LoRA weights, trained for this base) and "
            "that the engine loads it with LoRA enabled; if it changes answers only on other inputs, give "
            "prompts where it should (adapter_probe.prompts) or a larger adapter_probe.max_tokens"
        )
    if not compared and not problems:
        problems.append(
            f"no mixed answer could be compared: {ref_errors} sequential and "
            f"{sum(t.errors for t in counts.values())} mixed requests failed"
        )
        fixes.append("see the engine's log for why requests failed, then deploy again")
    report = ProbeReport(
        "passed",
        config.mode,
        names=tuple(counts[n.name].freeze(n) for n in names),
        prompts=len(prompts),
        rounds=config.rounds,
        concurrency=config.concurrency,
        max_tokens=config.max_tokens,
        examples=tuple(examples),
        identical=tuple(identical),
        notes=tuple(notes),
        left_out=tuple(left_out),
        reference_errors=ref_errors,
    )
    if problems:
        return replace(
            report, outcome="failed", reason=problems[0], problems=tuple(problems), fix="; ".join(fixes)
        )
    unstable = sum(t.unstable for t in counts.values())
    reason = f"all {compared} compared mixed answers were each name's own"
    if unstable:
        reason = (
            f"no answer was another name's; {unstable} of {compared} differed from their sequential answer "
            "without matching any other name (batched arithmetic, not cross-talk)"
        )
    return replace(report, reason=reason)


@dataclass
class _Tally:
    mixed: int = 0
    matched: int = 0
    cross_talk: int = 0
    unstable: int = 0
    errors: int = 0

    def freeze(self, name: ProbeName) -> NameCounts:
        return NameCounts(
            name.name,
            name.candidate,
            name.base,
            self.mixed,
            self.matched,
            self.cross_talk,
            self.unstable,
            self.errors,
        )


def _identical(
    names: Sequence[ProbeName], prompts: Sequence[ProbePrompt], ref: Mapping[tuple[str, str], str]
) -> tuple[list[str], list[str]]:
    """The bases the candidate adapter answered exactly like on every prompt, and the other adapters."""
    candidate = next((n for n in names if n.candidate), None)
    if candidate is None or candidate.base:
        return [], []
    like_base: list[str] = []
    like_adapter: list[str] = []
    for other in names:
        if other is candidate or (other.source is not None and other.source == candidate.source):
            continue
        pairs = [
            (ref[(candidate.name, p.id)], ref[(other.name, p.id)])
            for p in prompts
            if (candidate.name, p.id) in ref and (other.name, p.id) in ref
        ]
        if not pairs or any(a != b for a, b in pairs):
            continue
        if other.base:
            like_base.append(
                f"adapter {candidate.name} answered exactly like its base model {other.name} on all "
                f"{len(pairs)} probe prompts: the adapter changes nothing (a wrong file, LoRA weights of "
                "zero, or the engine not applying it)"
            )
        else:
            like_adapter.append(
                f"adapter {candidate.name} answered exactly like adapter {other.name} on all {len(pairs)} "
                "probe prompts (fine for two versions of one fine-tune; if they should differ there, check "
                "the files), so cross-talk between the two cannot be seen on these prompts"
            )
    return like_base, like_adapter


def _head(text: str) -> str:
    return text if len(text) <= HEAD_CHARS else text[: HEAD_CHARS - 1] + "…"
