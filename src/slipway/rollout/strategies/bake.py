"""Which of the old slot's traffic a bake compares the new one with: its own, just before the switch.

A bake has no split: after the switch the new version serves everything
and the old one nothing. The fair comparison is the old slot while it
served all traffic, as recently as possible and at most `longest_s` back,
so both windows see the same users, categories and load as far as time
allows. Pure: the route history in, a wall-clock window out.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.core.types import RouteChange

#: The default reference: the day before the switch (the same hours of the day, most days' mix).
DEFAULT_REFERENCE_S = 86_400.0


def reference_window(
    history: Sequence[RouteChange], *, baseline: str, switch_version: int, longest_s: float
) -> tuple[float, float]:
    """(since, until) wall-clock seconds in which `baseline` served all traffic right before the switch.

    `history` is newest first and holds the switch (`switch_version`). The
    window ends at the switch and starts where the run of changes that kept
    `baseline` the only active slot began, or `longest_s` before the switch,
    whichever is later (a history cut short only makes it shorter). Without
    the switch in `history`, the window is empty.
    """
    switch = next((c for c in history if c.version == switch_version), None)
    if switch is None:
        return (0.0, 0.0)
    since = switch.at
    for change in history:
        if change.version >= switch_version:
            continue
        if change.to_active != baseline or change.to_weights:
            break
        since = change.at
    return (max(since, switch.at - longest_s), switch.at)
