"""What set the failing inputs apart from the passing ones, one dimension value at a time.

For each value of each dimension (category, and the shadow report's input
dimensions: length, script, code, JSON, numbers, turns) the question is:
were answers to inputs with this value wrong more often than the rest?
Fisher's exact test on the 2×2 table (wrong/right × this value/the rest),
one-sided, with Holm's correction over every value tested; only values
that stay significant at `alpha` are findings. A finding is said with the
two failure rates, so an operator can judge the size, not only the p.

Category counts are complete. Input patterns are read from stored inputs
of a sample of the wrong answers and of the right ones (a postmortem over
100,000 records must not read and scan 100,000 inputs). Testing sampled
wrong against sampled right is a case-control table, which Fisher's test
handles as is; the failure rates shown scale each side back up by its
sampling fraction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slipway.analysis.shadow.features import INPUT_DIMENSIONS
from slipway.analysis.stats import holm

#: The dimension names and titles a finding can be about, category first.
TITLES: Mapping[str, str] = {"category": "category", **{d.name: d.title for d in INPUT_DIMENSIONS}}
#: A value seen in fewer answers than this is not tested (too small to tell anything).
MIN_ANSWERS = 5


@dataclass(frozen=True, slots=True)
class Observation:
    """One judged answer's dimension values (category always; input patterns when its input was read)."""

    wrong: bool
    values: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Finding:
    dimension: str
    value: str
    #: Wrong and all answers with this value, and in the rest (estimates when inputs were sampled).
    wrong: float
    answers: float
    rest_wrong: float
    rest_answers: float
    #: Holm-adjusted one-sided p-value.
    p_value: float
    significant: bool

    @property
    def rate(self) -> float:
        return self.wrong / self.answers if self.answers else 0.0

    @property
    def rest_rate(self) -> float:
        return self.rest_wrong / self.rest_answers if self.rest_answers else 0.0

    @property
    def pattern(self) -> str:
        """The value as a kind of input: "long (>1000 chars) inputs", "inputs containing code"."""
        return pattern_words(self.dimension, self.value)

    def words(self) -> str:
        subject = self.value if self.dimension == "category" else self.pattern
        return (
            f"{subject}: {self.rate:.0%} of answers wrong ({self.wrong:.0f} of {self.answers:.0f}) "
            f"against {self.rest_rate:.0%} for the rest (p={self.p_value:.2g})"
        )


_YES_NO = {"code": "code", "json": "JSON", "numbers": "numbers"}


def pattern_words(dimension: str, value: str) -> str:
    """A dimension's value said as a kind of input, for sentences."""
    if dimension == "category":
        return f"{value} requests"
    if dimension in _YES_NO:
        return f"inputs {'containing' if value == 'yes' else 'without'} {_YES_NO[dimension]}"
    if dimension == "script":
        return f"inputs in {value} script"
    if dimension == "turns":
        return f"conversations of {value}"
    if dimension == "length":
        return f"{value} inputs"
    return f"inputs with {TITLES.get(dimension, dimension)} {value}"


def distinguish(
    observations: Sequence[Observation],
    *,
    sampled: Mapping[str, tuple[float, float]] | None = None,
    alpha: float = 0.01,
) -> list[Finding]:
    """Every tested value, significant ones first (then by p-value).

    `sampled` per dimension: (wrong, right) — the share of all wrong and of
    all right answers that are among the observations with that dimension
    (1 when every one was read; category is always complete).
    """
    from scipy.stats import fisher_exact  # lazy: scipy is 70 MiB of RSS

    fractions = dict(sampled or {})
    tables: list[tuple[str, str, int, int, int, int]] = []
    dimensions = sorted({d for o in observations for d in o.values}, key=_dimension_rank)
    for dim in dimensions:
        seen = [o for o in observations if dim in o.values]
        wrong_total = sum(o.wrong for o in seen)
        right_total = len(seen) - wrong_total
        counts: dict[str, list[int]] = {}
        for o in seen:
            counts.setdefault(o.values[dim], [0, 0])[0 if o.wrong else 1] += 1
        if len(counts) < 2 or wrong_total == 0:
            continue
        for value, (w, r) in counts.items():
            if w + r < MIN_ANSWERS:
                continue
            tables.append((dim, value, w, r, wrong_total - w, right_total - r))
    p_raw = [
        float(fisher_exact([[w, r], [rw, rr]], alternative="greater").pvalue) for _, _, w, r, rw, rr in tables
    ]
    adjusted = holm(p_raw) if p_raw else []
    out = []
    for (dim, value, w, r, rw, rr), p in zip(tables, adjusted, strict=True):
        wf, rf = fractions.get(dim, (1.0, 1.0))
        up_w, up_r = 1.0 / max(wf, 1e-9), 1.0 / max(rf, 1e-9)
        out.append(
            Finding(
                dimension=dim,
                value=value,
                wrong=w * up_w,
                answers=w * up_w + r * up_r,
                rest_wrong=rw * up_w,
                rest_answers=rw * up_w + rr * up_r,
                p_value=p,
                significant=p <= alpha,
            )
        )
    out.sort(key=lambda f: (not f.significant, f.p_value, -f.rate, f.dimension, f.value))
    return out


def _dimension_rank(name: str) -> tuple[int, str]:
    names = list(TITLES)
    return (names.index(name) if name in names else len(names), name)
