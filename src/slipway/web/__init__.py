"""The admin HTTP API (token-protected), the dashboard page, /metrics and the health probes."""
