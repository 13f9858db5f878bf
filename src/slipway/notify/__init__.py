"""Notifications to people: webhooks (Slack-compatible JSON) and the log (OP3, CN4)."""
