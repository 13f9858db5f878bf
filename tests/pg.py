"""A throwaway PostgreSQL server for tests, started once per session.

Tests must run against a real PostgreSQL, not a mock, but must not need one
set up by hand: this starts the Debian PostgreSQL binaries (installed by
`scripts/ci-services`) in a temporary directory on 127.0.0.1 with a free
port, trusts local connections, turns off fsync (the data is thrown away),
and stops and deletes everything at the end of the session.

Use it from a conftest:

    from tests.pg import fresh_schema, postgres_url  # noqa: F401

`postgres_url` is the server's maintenance database; `fresh_schema(url)` gives
a test a URL of its own where it starts from an empty schema.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", *sorted(Path("/usr/lib/postgresql").glob("*/bin")))
PG_USER = "postgres"


def find_pg_bin() -> Path | None:
    override = os.environ.get("SLIPWAY_PG_BIN")
    for candidate in ([override] if override else []) + [str(p) for p in PG_BIN_CANDIDATES]:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_USER, "--", *argv]
    return argv


def _run(argv: list[str], log: Path) -> None:
    # Output goes to a file, not a pipe: the postmaster pg_ctl forks would keep
    # a pipe open and make subprocess.run wait for it forever.
    with log.open("ab") as out:
        result = subprocess.run(_as_postgres(argv), stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(argv)} failed with exit code {result.returncode}:\n{tail}")


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        # Not pytest's tmp_path: its parents are mode 0700 and owned by root,
        # which the `postgres` user could not traverse.
        self.root = Path(tempfile.mkdtemp(prefix="slipway-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, user=PG_USER)
        _run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.data),
                "-U", PG_USER,
                "-A", "trust",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            self.root / "initdb.log",
        )  # fmt: skip
        last_error: Exception | None = None
        for _attempt in range(3):  # the free port can be taken between probe and bind
            self.port = _free_port()
            try:
                self.start_again()
                return
            except RuntimeError as exc:
                last_error = exc
        raise RuntimeError(f"PostgreSQL did not start; server log:\n{self._log_tail()}") from last_error

    def start_again(self) -> None:
        """Start the initialised server on its port (after `stop_fast`, the same URL works again)."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_ctl("-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop_fast(self) -> None:
        """Stop it as an operator's fast shutdown does (sessions cut, nothing lost), keeping its data."""
        self._pg_ctl("-m", "fast", "-w", "-t", "60", "stop")

    def _pg_ctl(self, *args: str) -> None:
        _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args], self.root / "pg_ctl.log")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                _run(
                    [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                    self.root / "pg_ctl.log",
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server that lives for the test session (its `postgres` database)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found (run scripts/ci-services, or set SLIPWAY_PG_BIN)")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


@contextmanager
def fresh_schema(server_url: str) -> Iterator[str]:
    """A URL on the server whose tables all land in a new, empty schema; dropped afterwards.

    A schema per test rather than a database per test: CREATE DATABASE costs a
    few hundred milliseconds, CREATE SCHEMA about one, and `search_path` (set
    for every connection through libpq's `options`) isolates the tests as well.
    """
    import psycopg
    from psycopg import sql
    from sqlalchemy import make_url

    url = make_url(server_url)
    name = f"t_{uuid.uuid4().hex[:16]}"
    conninfo = f"host={url.host} port={url.port} user={url.username} dbname={url.database}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
