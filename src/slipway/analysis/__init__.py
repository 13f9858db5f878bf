"""Judging a candidate against production: statistics, verdicts, shadow reports.

scipy is imported inside the functions that need it, never at module level:
it is about 70 MiB of resident memory, and a gateway that is not analysing
a rollout (most of the time) should not carry it (tests/unit/test_footprint.py).
"""
