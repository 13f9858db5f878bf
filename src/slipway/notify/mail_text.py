"""A notification as a plain-text e-mail: the title as the subject, then the words, facts and metric table.

Plain text on purpose: it reads the same in every client and on a phone at
3 a.m., and the metric table stays aligned in a monospaced font. Pure: no I/O.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from slipway.core.notifications import Notification, Severity
from slipway.notify.slack import metric_table

#: Mail clients cut long subjects anyway; the whole title is in the body.
SUBJECT_MAX = 180


def _one_line(text: str) -> str:
    """Header text without line breaks (a line break in a header would start a new one)."""
    return " ".join(text.split())


def mail_message(note: Notification, *, sender: str, to: tuple[str, ...]) -> EmailMessage:
    mark = "" if note.severity is Severity.INFO else f"{note.severity.upper()}: "
    subject = _one_line(f"[slipway] {mark}{note.title}")
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    lines = [note.title, ""]
    if note.text:
        lines += [note.text, ""]
    if note.facts:
        width = max(len(k) for k in note.facts)
        lines += [f"{k.ljust(width)}  {v}" for k, v in note.facts.items()] + [""]
    if note.metrics:
        lines += [metric_table(note.metrics), ""]
    lines.append(f"event: {note.event}, severity: {note.severity}")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(note.at or None, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["X-Slipway-Event"] = note.event
    msg.set_content("\n".join(lines))
    return msg
