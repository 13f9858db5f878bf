"""What the simulated model does with one request, decided up front and without I/O.

The server asks for a `Plan` (category, answer, failure, timings, tokens) and
then only carries it out, so every statistical promise of a profile can be
tested here with thousands of draws in milliseconds, and the server's code is
about bytes and clocks only.

Timing model, per request, with L = latency_ms, T = ttft_ms, I =
stream_interval_ms and n output tokens:

    first token at   T            (T defaults to max(0, L - (n-1)·I))
    token i at       T + i·I
    last byte at     max(L, T + (n-1)·I)

so `latency_ms` is what a gateway measures end to end whenever the stream
pacing fits in it, and a non-streaming answer arrives at that same moment.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from slipway.backends.sim.profile import CategorySpec, Dist, DistKind, ErrorMode, SimProfile

#: z-score of the 95th percentile of a standard normal: turns (p50, p95) into a spread.
Z95 = 1.6448536269514722
DEFAULT = "default"
#: Header-named categories the profile does not know are kept up to this many, then pooled.
MAX_AD_HOC_CATEGORIES = 256
OTHER = "_other"
FILLER = (
    "thanks", "for", "reaching", "out", "we", "have", "looked", "into", "your", "request",
    "and", "will", "follow", "up", "with", "the", "details", "shortly",
)  # fmt: skip


class Sampler:
    """A `Dist` with its parameters precomputed, drawn from a shared generator."""

    __slots__ = ("_a", "_b", "_kind")

    def __init__(self, dist: Dist) -> None:
        self._kind = dist.dist
        if dist.dist is DistKind.CONSTANT:
            assert dist.value is not None
            self._a, self._b = dist.value, 0.0
        elif dist.dist is DistKind.UNIFORM:
            assert dist.min is not None and dist.max is not None
            self._a, self._b = dist.min, dist.max
        else:
            assert dist.p50 is not None and dist.p95 is not None
            if dist.dist is DistKind.LOGNORMAL:
                self._a, self._b = math.log(dist.p50), math.log(dist.p95 / dist.p50) / Z95
            else:
                self._a, self._b = dist.p50, (dist.p95 - dist.p50) / Z95

    def draw(self, rng: np.random.Generator) -> float:
        kind = self._kind
        if kind is DistKind.CONSTANT:
            return self._a
        if kind is DistKind.LOGNORMAL:
            return float(rng.lognormal(self._a, self._b))
        if kind is DistKind.UNIFORM:
            return float(rng.uniform(self._a, self._b))
        return max(0.0, float(rng.normal(self._a, self._b)))


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the server needs to answer one request; times in seconds from arrival."""

    category: str
    true_label: str | None
    label: str
    error: ErrorMode | None
    ttft_s: float
    interval_s: float
    total_s: float
    #: The answer as streamed: the label, then " word" fillers.
    tokens: tuple[str, ...]
    finish_reason: str
    hang_s: float

    @property
    def correct(self) -> bool | None:
        return None if self.true_label is None else self.label == self.true_label

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def token_at(self, i: int) -> float:
        return self.ttft_s + i * self.interval_s


class _Category:
    """A resolved category with its samplers and wrong-answer pool, built once."""

    __slots__ = ("error_cum", "error_modes", "latency", "output", "spec", "ttft", "wrong")

    def __init__(self, spec: CategorySpec) -> None:
        self.spec = spec
        self.latency = Sampler(spec.latency_ms)
        self.ttft = Sampler(spec.ttft_ms) if spec.ttft_ms is not None else None
        self.output = Sampler(spec.output_tokens)
        self.wrong = tuple(label for label in spec.labels if label != spec.true_label)
        self.error_modes = tuple(mode for mode, _ in spec.error_modes)
        self.error_cum = tuple(np.cumsum([w for _, w in spec.error_modes]).tolist())


class Simulator:
    """Categorises requests and plans answers; one seeded generator per process."""

    def __init__(self, profile: SimProfile, seed: int | None = None) -> None:
        self.profile = profile
        self.seed = profile.seed if seed is None else seed
        self._rng = np.random.default_rng(self.seed)
        self._categories = {name: _Category(profile.spec(name)) for name in [DEFAULT, *profile.categories]}
        self._capacity = len(self._categories) + MAX_AD_HOC_CATEGORIES
        self._keyword_of: dict[str, str] = {}
        for name, section in profile.categories.items():
            for word in section.keywords:
                self._keyword_of[word] = name
        self._patterns = [re.compile(p.match, re.IGNORECASE) for p in profile.patterns]
        self._under_pattern: dict[tuple[str, int], _Category] = {}
        self._keywords: re.Pattern[str] | None = None
        if self._keyword_of:
            # Longest first so a phrase wins over a word it contains; whitespace inside a phrase is
            # elastic; lookarounds rather than \b so keywords may start or end with punctuation (c++).
            words = sorted(self._keyword_of, key=len, reverse=True)
            alternation = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
            self._keywords = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)")

    def categorize(self, header: str | None, text: str) -> str:
        """The header wins (the gateway knows best), then the first keyword in the text, then default."""
        if header and (name := header.strip()):
            return name
        if self._keywords is not None and text:
            found = self._keywords.search(text.lower())
            if found:
                return self._keyword_of[" ".join(found.group(0).split())]
        return DEFAULT

    def _category(self, name: str) -> _Category:
        category = self._categories.get(name)
        if category is None:
            if len(self._categories) >= self._capacity:
                name = OTHER
            category = self._categories.get(name) or self._categories.setdefault(
                name, _Category(self.profile.spec(name))
            )
        return category

    def _pattern_of(self, text: str) -> int | None:
        return next((i for i, rx in enumerate(self._patterns) if rx.search(text)), None)

    def plan(self, category_name: str, max_tokens: int | None = None, text: str = "") -> Plan:
        category = self._category(category_name)
        pattern = self._pattern_of(text) if self._patterns and text else None
        if pattern is not None:
            key = (category.spec.name, pattern)
            if key not in self._under_pattern:
                self._under_pattern[key] = _Category(self.profile.spec(category.spec.name, pattern))
            category = self._under_pattern[key]
        spec = category.spec
        rng = self._rng
        error: ErrorMode | None = None
        if spec.error_rate > 0 and rng.random() < spec.error_rate:
            pick = rng.random()
            error = next(
                (m for m, c in zip(category.error_modes, category.error_cum, strict=True) if pick < c),
                category.error_modes[-1],
            )
        if spec.true_label is None:
            label = spec.labels[int(rng.integers(len(spec.labels)))]
        elif category.wrong and rng.random() >= spec.accuracy:
            label = category.wrong[int(rng.integers(len(category.wrong)))]
        else:
            label = spec.true_label
        n = max(1, round(category.output.draw(rng)))
        finish = "stop"
        if max_tokens is not None and 0 < max_tokens < n:
            n, finish = max_tokens, "length"
        latency = category.latency.draw(rng) / 1000.0
        interval = spec.stream_interval_ms / 1000.0
        pacing = (n - 1) * interval
        ttft = category.ttft.draw(rng) / 1000.0 if category.ttft else max(0.0, latency - pacing)
        tokens = (label, *(" " + FILLER[i % len(FILLER)] for i in range(n - 1)))
        return Plan(
            category=spec.name,
            true_label=spec.true_label,
            label=label,
            error=error,
            ttft_s=ttft,
            interval_s=interval,
            total_s=max(latency, ttft + pacing),
            tokens=tokens,
            finish_reason=finish,
            hang_s=spec.hang_s,
        )
