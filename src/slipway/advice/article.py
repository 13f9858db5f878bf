"""The sentences of the source article that the advice rests on.

Every reason `slipway plan` gives carries the sentence it comes from and the
section it stands in, so an operator can check the advice against the article
without knowing how this project numbers its requirements.
"""

from __future__ import annotations

from dataclasses import dataclass

ARTICLE = "Rolling Back a Fine-Tuned Model Safely: Deployment Strategies"


@dataclass(frozen=True, slots=True)
class Quote:
    """A sentence of the article and the section heading it stands under."""

    section: str
    text: str

    def cite(self) -> str:
        return f'"{ARTICLE}", {self.section}: "{self.text}"'


WHY_DEPLOYMENTS_FAIL = "Why Fine-Tuned Model Deployments Fail"
BLUE_GREEN = "Strategy 1: Blue-Green Deployment"
CANARY = "Strategy 2: Canary Deployment"
CANARY_ROLLBACK = "Rollback During Canary"
CANARY_CHECKS = "Automated Canary Checks"
SHADOW = "Strategy 3: Shadow Mode"
WHEN_SHADOW = "When to Use Shadow Mode"
MONITORING = "Monitoring Windows"

QUOTES = {
    "high_stakes": Quote(
        WHEN_SHADOW,
        "High-stakes deployments where a bad response has significant consequences "
        "(medical, legal, financial)",
    ),
    "first": Quote(
        WHEN_SHADOW, "First deployment of a fine-tuned model replacing a prompt-engineered baseline"
    ),
    "major": Quote(
        WHEN_SHADOW, "Major retraining where the training data or methodology changed significantly"
    ),
    "base": Quote(
        WHEN_SHADOW, "Base model upgrades where you changed the underlying model, not just the adapter"
    ),
    "base_fails": Quote(
        WHY_DEPLOYMENTS_FAIL,
        "The adapter was trained for the old base. The weights do not align. Outputs degrade in "
        "subtle, hard-to-detect ways.",
    ),
    "zero_risk": Quote(
        SHADOW,
        "Users never see the new model's output. There is zero risk to user experience. The "
        "trade-off is time",
    ),
    "promote": Quote(SHADOW, "If the new model is better, promote it using blue-green or canary"),
    "overkill": Quote(
        WHEN_SHADOW,
        "Shadow mode is overkill for routine monthly retraining on incrementally updated data. "
        "Use canary for those.",
    ),
    "gradual": Quote(
        CANARY,
        "Canary deployment catches problems before they affect all users. Instead of switching "
        "100% of traffic at once, you ramp up gradually.",
    ),
    "blast": Quote(
        CANARY_ROLLBACK,
        "At 5% traffic, if the new model has a 30% failure rate on a specific category, only 1.5% "
        "of total requests for that category are affected.",
    ),
    "unattended": Quote(CANARY_CHECKS, "The entire canary process can run unattended."),
    "bg_simplest": Quote(
        BLUE_GREEN, "Blue-green deployment is the simplest strategy and the one you should implement first."
    ),
    "bg_rollback": Quote(
        BLUE_GREEN, "Rollback time: under 10 seconds. It is a configuration change, not a model reload."
    ),
    "smoke": Quote(BLUE_GREEN, "Run a smoke test against the standby slot — 10-20 representative prompts"),
    "time_of_day": Quote(
        MONITORING,
        "This catches slow degradation — subtle quality shifts that only become apparent with "
        "large sample sizes, time-of-day patterns, weekly usage patterns",
    ),
}
