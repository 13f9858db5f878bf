"""A notification as Slack-compatible JSON: `text` for any webhook, blocks and an attachment for Slack.

Mattermost, Rocket.Chat, Discord's `/slack` endpoint and Slack itself read
`text`; Slack renders `blocks` (title, facts, the metric table as a
monospaced table) and colours the attachment by severity. The raw event is
also attached under `slipway` for machines. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from slipway.core.canary import NOT_SIGNIFICANT_YET, MetricRow, verdict_words
from slipway.core.notifications import Notification, Severity

COLOURS = {Severity.INFO: "#2eb67d", Severity.WARNING: "#ecb22e", Severity.CRITICAL: "#e01e5a"}
ICONS = {
    Severity.INFO: ":white_check_mark:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}
#: Slack limits a section's text to 3000 characters.
MAX_SECTION = 2900


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def metric_table(rows: tuple[MetricRow, ...]) -> str:
    """The metric table as aligned plain text (also what the log notifier prints)."""
    header = (
        "metric", "category", "baseline", "candidate", "threshold", "verdict", "n (b/c)",
        "effect (interval), p",
    )  # fmt: skip
    lines = [header] + [
        (
            r.metric,
            r.category or "all",
            _num(r.baseline),
            _num(r.candidate),
            r.threshold,
            _words(r),
            f"{r.n_baseline}/{r.n_candidate}",
            r.summary,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
    if any(_words(r) != str(r.action) for r in rows):
        table += "\n" + NOT_SIGNIFICANT_YET
    return table


def _words(row: MetricRow) -> str:
    return verdict_words(str(row.action), row.baseline, row.candidate, row.threshold)


def slack_payload(note: Notification) -> dict[str, Any]:
    text = f"{ICONS[note.severity]} {note.title}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{note.title}*"}}
    ]
    if note.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": note.text[:MAX_SECTION]}})
    if note.facts:
        fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:1900]} for k, v in list(note.facts.items())[:10]]
        blocks.append({"type": "section", "fields": fields})
    if note.metrics:
        table = metric_table(note.metrics)[:MAX_SECTION]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{table}```"}})
    attachment = {
        "color": COLOURS[note.severity],
        "fallback": text,
        "fields": [
            {
                "title": f"{r.metric}" + (f" [{r.category}]" if r.category else ""),
                "value": f"{_num(r.candidate)} vs {_num(r.baseline)} ({r.threshold}): {_words(r)}"
                + (f"; {r.summary}" if r.summary else ""),
                "short": False,
            }
            for r in note.metrics
        ],
    }
    return {"text": text, "blocks": blocks, "attachments": [attachment], "slipway": note.to_dict()}
