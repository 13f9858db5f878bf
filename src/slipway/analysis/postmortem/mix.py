"""How the candidate's input mix differed from what it was judged on, in `analysis.drift`'s words.

The reference is the latest evaluation run's suite cases for the version
when there is one ("since v2.2's evaluation"), else production's traffic
just before the rollout began ("compared with production before the rollout"). Both sides are
counted along the same dimensions (category and the shadow report's input
dimensions) and compared by `analysis.drift.compare`: a chi-square test and
a minimum move in points, so only a real, sizeable shift is said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from slipway.analysis.drift import DimensionDrift, DriftSettings, Profile, compare
from slipway.analysis.postmortem.patterns import TITLES
from slipway.analysis.shadow.features import INPUT_DIMENSIONS, Asked

#: A postmortem explains rather than alarms, and a suite has tens of cases, not thousands.
POSTMORTEM_DRIFT = DriftSettings(alpha=0.01, min_points=5.0, min_requests=20)


@dataclass(frozen=True, slots=True)
class Text:
    """An input as the dimensions read it (a suite case's text, for instance)."""

    input_text: str
    turns: int = 1


def profile(
    categories: Mapping[str, int],
    inputs: Iterable[Asked],
    known: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, dict[str, int]]:
    """Counts per value of category (given) and of each input dimension (over `inputs`).

    `known`: features already computed, by request id (an input with a
    `request_id` found there is not scanned again).
    """
    out: dict[str, dict[str, int]] = {"category": {k: v for k, v in categories.items() if v > 0}}
    for item in inputs:
        rid = getattr(item, "request_id", None)
        values = known.get(rid) if known is not None and rid is not None else None
        for d in INPUT_DIMENSIONS:
            counts = out.setdefault(d.name, {})
            value = values[d.name] if values is not None else d.of(item)
            counts[value] = counts.get(value, 0) + 1
    return out


@dataclass(frozen=True, slots=True)
class MixChange:
    """One dimension's comparison, with its sentence when it moved."""

    drift: DimensionDrift
    sentences: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        d = self.drift
        return {
            "dimension": d.dimension,
            "drifted": d.drifted,
            "unjudged": d.unjudged,
            "p_value": d.p_value,
            "psi": d.psi,
            "reference_n": d.reference_n,
            "live_n": d.live_n,
            "moves": [
                {"value": m.value, "reference_share": m.reference_share, "live_share": m.live_share}
                for m in d.moves
            ],
            "sentences": list(self.sentences),
        }


def mix_changes(reference: Profile, live: Profile, since: str) -> list[MixChange]:
    """Each dimension both sides have, drifted first.

    `since` ends each sentence: "since v2.2's evaluation".
    """
    out = []
    for d in compare(reference, live, POSTMORTEM_DRIFT):
        said: tuple[str, ...] = ()
        if d.drifted:
            prefix = "" if d.dimension == "category" else f"{TITLES.get(d.dimension, d.dimension)}: "
            # A share that rose is the news; the others fell to make room for it.
            said = tuple(f"{prefix}{m.words()} of traffic {since}" for m in d.moves if m.points >= 5)
        out.append(MixChange(d, said))
    return out
