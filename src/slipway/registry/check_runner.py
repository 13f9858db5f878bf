"""Running a validation's checks in order: one runner for GGUF files and PEFT directories alike.

Validation does not stop at the first problem (see `report`): each check is
timed and recorded, a `FileCheckError` is a failed check rather than an
exception, and a check that cannot be made here (`CheckUnavailable`: a base
architecture slipway does not know) is a warning that says so, never a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from slipway.core.errors import FileCheckError
from slipway.registry.report import CHECKS, CheckResult, CheckStatus


class CheckUnavailable(Exception):
    """The check cannot be made with what slipway knows; the engine makes it when it loads the adapter."""


class CheckRunner:
    """Runs named checks in order, timing each, and answers what became of an earlier one."""

    def __init__(self) -> None:
        self.results: tuple[CheckResult, ...] = ()

    def __call__(self, name: str, check: Callable[[], Any]) -> Any:
        """Run `check` (returning its detail, or (value, detail)); the value, or None if it did not pass."""
        assert name in CHECKS, name
        started = time.perf_counter()
        try:
            outcome = check()
        except FileCheckError as exc:
            self.add(CheckResult(name, CheckStatus.FAILED, exc.reason, time.perf_counter() - started, exc))
            return None
        except CheckUnavailable as exc:
            self.add(
                CheckResult(name, CheckStatus.WARNED, f"not checked: {exc}", time.perf_counter() - started)
            )
            return None
        elapsed = time.perf_counter() - started
        value, detail = outcome if isinstance(outcome, tuple) else (None, outcome)
        self.add(CheckResult(name, CheckStatus.PASSED, str(detail), elapsed))
        return value

    def add(self, result: CheckResult) -> None:
        assert result.name in CHECKS, result.name
        self.results = (*self.results, result)

    def passed_now(self, name: str, detail: str) -> None:
        self.add(CheckResult(name, CheckStatus.PASSED, detail))

    def warn(self, name: str, detail: str) -> None:
        self.add(CheckResult(name, CheckStatus.WARNED, detail))

    def skip(self, *names: str, because: str) -> None:
        for name in names:
            self.add(CheckResult(name, CheckStatus.SKIPPED, f"skipped: {because}"))

    def get(self, name: str) -> CheckResult | None:
        return next((r for r in self.results if r.name == name), None)

    def passed(self, name: str) -> bool:
        found = self.get(name)
        return found is not None and found.status is CheckStatus.PASSED

    def warned(self, name: str) -> bool:
        found = self.get(name)
        return found is not None and found.status is CheckStatus.WARNED

    def detail(self, name: str) -> str:
        found = self.get(name)
        return found.detail if found is not None else ""
