"""Watches the active version's input mix against its own reference, from the leader, and tells people.

A version's reference is what it was judged on (`drift.reference_from`):
the cases of the suite it was last evaluated on (`app.drift_reference`),
or the first `drift.reference` requests it got once it took all traffic;
`auto` takes the evaluation when its suite is big enough to judge by, else
the traffic. Either is kept in the store, so it is read once and every
replica's restart keeps it; an evaluation reference is made again when the
version is evaluated again. The live window is its latest `drift.window`
requests. Both are profiled on every input dimension (`analysis.input_profile`:
category from every record, length, script, code, JSON, numbers and turns
from the inputs the gateway kept), off the event loop: a window's texts are
a few megabytes at most, but their regular expressions must not hold up
requests. The out-of-vocabulary rate is asked of the active slot's engine
on samples of both sides (`app.drift_oov`), the reference's once. Each
comparison (`analysis.drift`) is kept in the store for `slipway status` and
`/metrics` on every replica, with the reference named ("since v2.2's
evaluation", "since v2.2's first 1,000 requests"). A
dimension found drifting by two comparisons in a row is notified once
(`drift.detected`): at one comparison every 15 minutes, one unlucky window
a month would otherwise page someone. When it no longer drifts, `drift.cleared`.
The loop sleeps on the controllers' clock; the records are wall-clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from slipway.analysis.drift import DimensionDrift, DriftSettings, compare
from slipway.analysis.input_profile import DIMENSIONS, OOV, profile
from slipway.app.drift_oov import OovMeter
from slipway.app.drift_reference import evaluation_reference
from slipway.core.drift_config import EVALUATION_MIN_CASES, DriftConfig
from slipway.core.notifications import Notification, Severity
from slipway.core.ports import Clock, Notifier, SlotTokenizer
from slipway.core.records import InputMix
from slipway.core.types import RouteChange, RouteTable, Slot
from slipway.rollout.control_loop import ControlLoop
from slipway.store.database import Store

log = logging.getLogger("slipway.drift")

#: Store meta keys: the last comparison (JSON), and each version's reference profile (+ the version).
LAST_META_KEY = "drift.last"
REFERENCE_META_PREFIX = "drift.reference:"
#: Route changes read to find when the active slot took all traffic.
HISTORY_READ = 500


@dataclass(frozen=True, slots=True)
class Reference:
    """A version's reference profile, where it came from, and its name in sentences."""

    mix: InputMix
    source: Literal["evaluation", "traffic"]
    #: "customer-support-v2.2's evaluation", "customer-support-v2.2's first 1,000 requests".
    name: str
    #: Identifies it among every version's references ("blue:v2.2:traffic", "blue:v2.2:eval-1a2b").
    key: str
    #: Its inputs' texts, read again when its out-of-vocabulary rates are measured (once).
    texts: Callable[[], Awaitable[Sequence[str]]]
    #: The suite it was made of ("suite support v3 (240 cases)"); empty for traffic.
    suite: str = ""


class ActiveRoutes(Protocol):
    """What the watch reads of the routes: which slot serves, and since when (the route controller)."""

    @property
    def table(self) -> RouteTable: ...

    async def history(self, limit: int) -> list[RouteChange]: ...


class DriftWatch(ControlLoop):
    NAME = "slipway-drift"

    def __init__(
        self,
        *,
        store: Store,
        routes: ActiveRoutes,
        notifier: Notifier,
        config: Callable[[], DriftConfig],
        clock: Clock,
        wall: Callable[[], float] = time.time,
        before_read: Callable[[], Awaitable[None]] | None = None,
        tokenizer: Callable[[Slot], SlotTokenizer | None] = lambda slot: None,
    ) -> None:
        super().__init__(clock, log)
        #: The out-of-vocabulary dimension, through the active slot's engine when it can tokenize.
        self._oov = OovMeter(store, tokenizer)
        self._store = store
        self._routes = routes
        self._notifier = notifier
        self._config = config
        self._wall = wall
        #: Writes the queued request records first, so the live window is the latest.
        self._before_read = before_read

    async def _wake_once(self) -> float | None:
        cfg = self._config()
        if not cfg.enabled:
            return None
        await self.check(cfg)
        return self.clock.now() + cfg.interval_s()

    async def check(self, cfg: DriftConfig) -> dict[str, Any]:
        """Compare now; the report (also kept for status), and a notification if the verdict changed."""
        if self._before_read is not None:
            await self._before_read()
        slot = self._routes.table.active_slot
        version = slot.version_label
        reference = await self._reference(slot, cfg)
        report: dict[str, Any] = {
            "version": version,
            "slot": slot.name,
            "at": self._wall(),
            "reference_from": cfg.reference_from,
        }
        if isinstance(reference, int):
            report |= {
                "state": "building",
                "reference_requests": reference,
                "reference_needed": cfg.reference,
            }
        elif isinstance(reference, str):
            report |= {"state": "no reference", "reference_missing": reference}
        else:
            window = await self._store.input_window_latest(slot.name, cfg.window)
            live = await asyncio.to_thread(profile, window)
            settings = DriftSettings(
                alpha=cfg.alpha, min_points=cfg.min_points, min_requests=min(200, cfg.window)
            )
            # A reference made before inputs were kept has no input dimensions: compared as empty,
            # they are reported as not judged, with the reason, rather than left out unsaid.
            mix = reference.mix
            ref_counts = {d: mix.counts.get(d, {}) for d in DIMENSIONS}
            oov = await self._oov.both(
                slot,
                reference.key,
                reference.texts,
                [i.input_text for i in window.inputs],
                cfg.oov_sample,
            )
            if not isinstance(oov, str):
                ref_counts[OOV], live[OOV] = oov
            found = compare(ref_counts, live, settings, totals=(mix.requests, window.requests))
            if isinstance(oov, str):
                # Not judged, with the reason; it takes no share of alpha from the others.
                found.append(DimensionDrift(OOV, False, oov, 1.0, 0.0, 0, 0, ()))
            drifted = [f for f in found if f.drifted]
            report |= {
                "state": "drifted" if drifted else "steady",
                "reference": reference.source,
                "reference_name": reference.name,
                "reference_suite": reference.suite,
                "reference_requests": mix.requests,
                "live_requests": window.requests,
                "live_inputs": len(window.inputs),
                "dimensions": [_dimension(f) for f in found],
            }
        previous = await self._last()
        if previous is not None and (
            previous.get("version") != version
            or previous.get("reference_name", report.get("reference_name")) != report.get("reference_name")
        ):
            # Another version, or the same one against another reference: nothing carries over.
            previous = None
        # Told only when two comparisons in a row agree: one unlucky window is not an alarm.
        report["confirmed"] = sorted(_drifted(report) & _drifted(previous))
        await self._store.set_meta(LAST_META_KEY, json.dumps(report))
        self._tell(previous, report)
        return report

    async def _reference(self, slot: Slot, cfg: DriftConfig) -> Reference | int | str:
        """The version's reference as configured; else how many requests it has so far (traffic), or
        why there is none (an evaluation reference the version does not have)."""
        if cfg.reference_from != "traffic":
            evaluated = await self._evaluation_reference(slot, cfg)
            if isinstance(evaluated, Reference) or cfg.reference_from == "evaluation":
                return evaluated
        made = await self._traffic_reference(slot, cfg)
        if isinstance(made, int):
            return made

        async def texts() -> list[str]:
            since = await self._took_all_traffic(slot)
            window = await self._store.input_window_since(slot.name, since, made.requests)
            return [i.input_text for i in window.inputs]

        name = f"{slot.version_label}'s first {made.requests:,} requests"
        return Reference(made, "traffic", name, f"{slot.name}:{slot.version_label}:traffic", texts)

    async def _evaluation_reference(self, slot: Slot, cfg: DriftConfig) -> Reference | str:
        """The cases of the suite the version was last evaluated on; else why not, in words.

        `auto` takes only a suite big enough to judge by.
        """
        version = slot.version_label
        found = await evaluation_reference(self._store, slot.name, version)
        if isinstance(found, str):
            if cfg.reference_from == "evaluation":
                found += "; drift.reference_from is evaluation: set it to auto or traffic to compare with "
                found += "its first requests instead"
            return found
        if cfg.reference_from == "auto" and found.cases < EVALUATION_MIN_CASES:
            return f"{found.suite} has fewer than {EVALUATION_MIN_CASES} cases"
        mix = InputMix(found.counts, found.cases, None, None)
        ident = f"{slot.name}:{version}:{found.run_id}"
        return Reference(mix, "evaluation", f"{version}'s evaluation", ident, found.texts, found.suite)

    async def _traffic_reference(self, slot: Slot, cfg: DriftConfig) -> InputMix | int:
        """The version's first requests once it took all traffic, made once they exist; else how many
        requests it has so far."""
        key = f"{REFERENCE_META_PREFIX}{slot.name}:{slot.version_label}"
        raw = await self._store.get_meta(key)
        if raw:
            data = json.loads(raw)
            return InputMix(data["counts"], int(data["requests"]), data.get("first_at"), data.get("last_at"))
        since = await self._took_all_traffic(slot)
        window = await self._store.input_window_since(slot.name, since, cfg.reference)
        if window.requests < cfg.reference:
            return window.requests
        counts = await asyncio.to_thread(profile, window)
        kept = {
            "counts": counts,
            "requests": window.requests,
            "inputs": len(window.inputs),
            "first_at": window.first_at,
            "last_at": window.last_at,
        }
        await self._store.set_meta(key, json.dumps(kept))
        log.info(
            "drift: reference of %s made from its first %d requests (%d with a stored input)",
            slot.version_label,
            window.requests,
            len(window.inputs),
        )
        return InputMix(counts, window.requests, window.first_at, window.last_at)

    async def _took_all_traffic(self, slot: Slot) -> float:
        """When `slot` last became the active slot (0: it always was, as far as history reaches)."""
        for change in await self._routes.history(HISTORY_READ):
            if change.to_active == slot.name and change.from_active not in (None, slot.name):
                return change.at
        return 0.0

    async def _last(self) -> dict[str, Any] | None:
        raw = await self._store.get_meta(LAST_META_KEY)
        try:
            return dict(json.loads(raw)) if raw else None
        except ValueError:
            return None

    def _tell(self, previous: dict[str, Any] | None, report: dict[str, Any]) -> None:
        """Notify a dimension once it is confirmed drifting, and once it no longer drifts."""
        now = set(report.get("confirmed", []))
        before = set(previous.get("confirmed", [])) if previous is not None else set()
        cleared = before - _drifted(report)
        if report["state"] in ("building", "no reference") or (not now - before and not cleared):
            return
        version = report["version"]
        name = str(report.get("reference_name") or f"{version}'s reference")
        if now - before:
            words = "; ".join(d["words"] for d in report["dimensions"] if d["dimension"] in now - before)
            self._notifier.notify(
                Notification(
                    event="drift.detected",
                    title=f"input drift since {name}: {words}",
                    severity=Severity.WARNING,
                    text="The traffic no longer looks like what this version was first judged on. A model "
                    "can regress on a mix it was not tested for: check the accuracy of the requests that "
                    "moved (a category, or inputs of a length, script or kind: slipway canary status "
                    "--explain) and add such requests to the evaluation data.",
                    facts={"version": version, "slot": report["slot"], "reference": name},
                    at=report["at"],
                )
            )
        if cleared:
            back = ", ".join(sorted(cleared))
            self._notifier.notify(
                Notification(
                    event="drift.cleared",
                    title=f"input mix back in line with {name}: {back}",
                    facts={"version": version, "slot": report["slot"], "reference": name},
                    at=report["at"],
                )
            )


def _dimension(found: DimensionDrift) -> dict[str, Any]:
    """One dimension of a kept comparison: its verdict, numbers, moves and words."""
    return {
        "dimension": found.dimension,
        "drifted": found.drifted,
        "judged": found.unjudged is None,
        "unjudged": found.unjudged,
        "psi": found.psi,
        "p_value": found.p_value,
        "reference_n": found.reference_n,
        "live_n": found.live_n,
        "moves": [
            {"value": m.value, "reference_share": m.reference_share, "live_share": m.live_share}
            for m in found.moves
        ],
        "words": found.words(),
    }


def _drifted(report: dict[str, Any] | None) -> set[str]:
    """The dimensions a kept comparison found drifted."""
    if report is None:
        return set()
    return {str(d["dimension"]) for d in report.get("dimensions", []) if d.get("drifted")}
