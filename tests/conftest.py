"""Shared fixtures: a throwaway PostgreSQL server (tests/pg.py) and real servers on loopback."""

pytest_plugins = ["tests.pg"]
