"""Translate database failures into `StoreError` at the edge of the store.

Nothing above the store should ever catch a SQLAlchemy, sqlite3, psycopg or
Alembic exception: the controller and the web layer know only the slipway
error tree. Each message names the operation that failed and the database
(password hidden), and the hint says what an operator can do about it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.util import CommandError
from sqlalchemy.exc import (
    DataError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)

from slipway.core.errors import StoreError, StoreRefusedData, StoreUnavailable


class NotJSONError(ValueError):
    """A value bound for a JSON column has no JSON form (NaN, a set, an object).

    Raised by the store's JSON serializer. SQLite's path wraps it in
    SQLAlchemy's StatementError and psycopg's does not, so `translate_errors`
    recognises it both ways and reports it the same on every backend.
    """


@contextmanager
def translate_errors(action: str, where: str) -> Iterator[None]:
    """Re-raise any foreign failure during `action` as a `StoreError` about `where`.

    `StoreError`s raised inside (including `ConflictError`) pass through untouched.
    """
    try:
        yield
    except StoreError:
        raise
    except NotJSONError as exc:
        raise _not_json(action, where, exc) from exc
    except CommandError as exc:
        raise StoreError(
            f"could not {action} on {where}: the database schema is not one this slipway knows ({exc})",
            hint="The database was probably migrated by a newer slipway: upgrade slipway, "
            "or point it at another database.",
        ) from exc
    except (IntegrityError, sqlite3.IntegrityError) as exc:
        raise StoreRefusedData(
            f"could not {action} on {where}: a constraint was violated ({_detail(exc)})",
            hint="This is a bug in slipway or a hand-edited database; report it with this message.",
        ) from exc
    except (DataError, sqlite3.DataError) as exc:
        raise StoreRefusedData(
            f"could not {action} on {where}: the database refused a value ({_detail(exc)})",
            hint="A value does not fit its column (too long, out of range, or a character the "
            "database cannot store).",
        ) from exc
    except (OperationalError, InterfaceError, DisconnectionError, sqlite3.OperationalError) as exc:
        # Unreachable, restarting, locked, read-only, or a connection gone mid-transaction:
        # nothing about the data, so the same write may succeed later.
        raise StoreUnavailable(f"could not {action} on {where}: {_detail(exc)}", hint=_hint(exc)) from exc
    except (SQLAlchemyError, sqlite3.Error) as exc:
        cause = getattr(exc, "orig", None)
        if isinstance(cause, NotJSONError):
            raise _not_json(action, where, cause) from exc
        raise StoreError(
            f"could not {action} on {where}: {_detail(exc)}",
            hint="Check the database logs; if the schema was changed by hand, restore it.",
        ) from exc
    except OSError as exc:
        raise StoreUnavailable(
            f"could not {action} on {where}: {exc.strerror or exc} ({exc.filename or 'no file'})",
            hint="Check that the directory exists, is a directory and is writable by this user, "
            "or configure another store location.",
        ) from exc


def _not_json(action: str, where: str, exc: NotJSONError) -> StoreError:
    return StoreError(
        f"could not {action} on {where}: {exc}",
        hint="JSON fields take only strings, finite numbers, booleans, None, lists and dicts.",
    )


def _detail(exc: Exception) -> str:
    """The driver's own words, without SQLAlchemy's statement dump and doc link."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _hint(exc: Exception) -> str:
    text = _detail(exc).lower()
    if "locked" in text or "busy" in text:
        return (
            "Another process held the write lock for longer than busy_timeout: stop other "
            "slipway processes sharing this SQLite file, or move to PostgreSQL for several replicas."
        )
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return (
            "Check that the database file and its directory exist and are writable by this user "
            "(SQLite also needs to create -wal and -shm files next to it)."
        )
    if "connection" in text or "could not connect" in text or "timeout" in text:
        return (
            "Check that the PostgreSQL server is running and reachable, and that the URL's "
            "host, port, user, password and database name are right."
        )
    if "no such table" in text or "does not exist" in text:
        return "The schema is missing or incomplete: reopen the store so migrations run, or restore a backup."
    return "Check the database server's logs and the store URL, then retry."
