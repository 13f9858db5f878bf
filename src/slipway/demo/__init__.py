"""The demo's own material: deterministic ticket data and the tiny real model.

Everything here is built locally from seeds, so tests and `slipway demo`
need no downloads and produce the same numbers on every run.
"""
