"""The admin HTTP API (token-protected) and, later, the dashboard."""
