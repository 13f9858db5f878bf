"""The dimensions a report groups pairs along: category, input patterns, output format.

Grouped this way, a report says exactly what to fix.

Their number matters beyond display: each dimension gets an equal share of
the report's error budget (α / `len(REPORT_DIMENSIONS)`), and the sample-size
adequacy is computed at that share, so adding a dimension here makes every
flag, and every "N more pairs needed", a little stricter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slipway.analysis.shadow.compare import PairOutcome
from slipway.analysis.shadow.features import INPUT_DIMENSIONS, Dimension
from slipway.analysis.shadow.output_format import FORMATS
from slipway.core.shadow import ShadowPair


@dataclass(frozen=True, slots=True)
class ReportDimension:
    """A dimension whose value may depend on how the pair was judged (category, expected format)."""

    name: str
    title: str
    value: Callable[[ShadowPair, PairOutcome], str]
    #: Display order of the values; empty: by number of pairs, largest first.
    order: tuple[str, ...] = ()

    def rank(self, value: str) -> int:
        return self.order.index(value) if value in self.order else len(self.order)


def _of_input(dimension: Dimension) -> ReportDimension:
    return ReportDimension(dimension.name, dimension.title, lambda p, _o: dimension.of(p), dimension.order)


REPORT_DIMENSIONS: tuple[ReportDimension, ...] = (
    ReportDimension("category", "category", lambda _p, o: o.category),
    *(_of_input(d) for d in INPUT_DIMENSIONS),
    ReportDimension("output_format", "expected output format", lambda _p, o: o.expected_format, FORMATS),
)
