"""Notifications to people: webhooks (Slack-compatible JSON) and the log."""
