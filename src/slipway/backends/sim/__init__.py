"""The simulated model server: an OpenAI-compatible stand-in with declared accuracy, latency and failures.

For drills and demos (a candidate that is worse on one category, slower, or
flaky, on demand and reproducibly) and as the backend of slipway's own tests.
"""

from slipway.backends.sim.behaviour import Plan, Simulator
from slipway.backends.sim.profile import ErrorMode, SimProfile, load_profile, parse_profile
from slipway.backends.sim.server import SimStats, create_sim_app, serve_sim

__all__ = [
    "ErrorMode",
    "Plan",
    "SimProfile",
    "SimStats",
    "Simulator",
    "create_sim_app",
    "load_profile",
    "parse_profile",
    "serve_sim",
]
