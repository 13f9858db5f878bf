"""Adapters to inference servers: one module per server kind, one factory."""
