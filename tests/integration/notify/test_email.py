"""E-mail notifications against a real SMTP server (aiosmtpd on loopback): retried, logged in, refused.

The notifier runs smtplib in a worker thread; these tests check what reaches
the server, what the delivery outcome says, and that a permanent refusal is
not retried.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest
from tests.harness import live_gateway, routing_yaml, sim_backend, sim_profile
from tests.smtp import smtp_server

from slipway.core.config import parse_config
from slipway.core.deliveries import Delivery, Outcome
from slipway.core.errors import ConfigError
from slipway.core.notifications import Notification, Severity
from slipway.notify.smtp import EmailNotifier, EmailSettings

NOTE = Notification(
    event="route.rollback",
    title="rolled back by ann: traffic moved from green (v2.2) to blue (v2.1)",
    severity=Severity.WARNING,
    text="Why: billing answers look wrong\nRoute v3; see slipway history.",
    facts={"route version": "3", "by": "ann"},
)


class Kept:
    """A delivery sink that keeps what it is told (the store's own one is tested with the gateway)."""

    def __init__(self) -> None:
        self.seen: list[Delivery] = []

    def record(self, delivery: Delivery) -> None:
        self.seen.append(delivery)


def settings(port: int, **more: object) -> EmailSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "sender": "slipway@example.com",
        "to": ("oncall@example.com", "ml-team@example.com"), "starttls": False, "backoff_s": 0.05,
    }  # fmt: skip
    base.update(more)
    return EmailSettings(**base)  # type: ignore[arg-type]


async def test_a_notification_is_mailed_to_everyone_after_a_retry_without_blocking() -> None:
    with smtp_server(fail_first=2) as box:
        kept = Kept()
        notifier = EmailNotifier(lambda: settings(box.port), deliveries=kept)
        notifier.start()
        try:
            notifier.notify(NOTE)
            # Only queued: the caller never waits for the mail server (the sender has not run yet)
            assert notifier.stats.sent == 0
            await notifier.flush()
        finally:
            await notifier.close()
        [mail] = box.wait_for(1)
        assert mail["Subject"] == f"[slipway] WARNING: {NOTE.title}"
        assert mail["To"] == "oncall@example.com, ml-team@example.com"
        assert "Why: billing answers look wrong" in mail.get_content()
        assert box.envelopes()[0].rcpt_tos == ["oncall@example.com", "ml-team@example.com"]
        [done] = kept.seen
        assert (done.outcome, done.attempts, done.sink) == (
            Outcome.DELIVERED,
            3,
            f"email 127.0.0.1:{box.port}",
        )
        assert done.error == "451 4.3.0 try again later"


async def test_a_login_takes_the_password_from_its_variable_and_a_refused_login_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with smtp_server(login=("slipway", "s3cret")) as box:
        monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
        kept = Kept()
        good = settings(box.port, username="slipway", password_env="SMTP_PASSWORD")
        notifier = EmailNotifier(lambda: good, deliveries=kept)
        notifier.start()
        notifier.notify(NOTE)
        await notifier.flush()
        monkeypatch.setenv("SMTP_PASSWORD", "wrong")
        notifier.notify(NOTE)
        await notifier.flush()
        await notifier.close()
        assert len(box.messages()) == 1
        delivered, refused = kept.seen
        assert delivered.outcome is Outcome.DELIVERED and delivered.error is None
        assert refused.outcome is Outcome.FAILED and refused.attempts == 1
        assert refused.error is not None and refused.error.startswith("535")
        assert "s3cret" not in repr(kept.seen) and "wrong" not in repr(kept.seen)


async def test_a_server_that_is_not_there_fails_after_every_retry() -> None:
    with smtp_server() as box:
        port = box.port
    kept = Kept()
    notifier = EmailNotifier(lambda: settings(port, retries=2), deliveries=kept)
    notifier.start()
    notifier.notify(NOTE)
    await notifier.flush()
    await notifier.close()
    [failed] = kept.seen
    assert (failed.outcome, failed.attempts) == (Outcome.FAILED, 3)
    assert failed.error is not None and "ConnectionRefusedError" in failed.error


def test_the_email_section_is_checked_with_the_file(tmp_path: Path) -> None:
    base = "active_slot: blue\nslots:\n  blue: {model: m, endpoint: 'localhost:1'}\nnotify:\n  email:\n"
    good = base + "    host: smtp.example.com\n    from: slipway@example.com\n    to: [oncall@example.com]\n"
    assert parse_config(good, "slipway.yaml").notify.email is not None
    injected = "to: ['a@example.com\\r\\nBcc: x@evil.example']"
    bad = {
        f"    host: smtp.example.com\n    from: slipway@example.com\n    {injected}\n": "e-mail address",
        "    host: smtp://example.com\n    from: slipway@example.com\n    to: [a@example.com]\n": "SMTP host",
        "    host: h\n    from: s@example.com\n    to: [a@example.com]\n    port: 70000\n": "port",
        "    host: h\n    from: s@example.com\n    to: [a@example.com]\n    password_env: PW\n": "together",
    }  # fmt: skip
    for section, words in bad.items():
        with pytest.raises(ConfigError) as caught:
            parse_config(base + section, "slipway.yaml")
        assert words in str(caught.value), str(caught.value)


def test_a_route_change_is_mailed_through_the_gateway(tmp_path: Path) -> None:
    with (
        smtp_server() as box,
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
    ):
        mail = textwrap.dedent(
            f"""\
            notify:
              backoff_s: 0.05
              email: {{host: 127.0.0.1, port: {box.port}, from: slipway@example.com,
                       to: [oncall@example.com], starttls: false}}
            """
        )
        with live_gateway(tmp_path, routing_yaml(blue, green, extra=mail), watch=False) as gw:
            r = httpx.post(
                f"{gw.url}/admin/switch",
                json={"to": "green", "reason": "try v2.2"},
                headers={"x-slipway-actor": "ann"},
            )
            assert r.status_code == 200, r.text
            subjects = [m["Subject"] for m in box.wait_for(2)]
        assert subjects[0].startswith("[slipway] routes first set from the config file")
        assert subjects[1] == (
            "[slipway] switched by ann: traffic moved from blue (customer-support-v2.1) "
            "to green (customer-support-v2.2)"
        )
