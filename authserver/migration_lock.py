"""One migration at a time across every instance of a deployment.

PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) on a key derived from a fixed name, held on a
connection of its own while the schema is moved (and the start-up work after it runs). The server drops the lock
when that connection ends, so a migrating process that is killed frees it for the next one.

SQLite: an exclusive ``flock`` on a file beside the database (``<database>.migration-lock``, never deleted: a lock
on a removed file locks nothing). SQLite serves one machine, so a file lock reaches every process that can open the
database, and the kernel drops it when its process dies. ``BEGIN IMMEDIATE`` was the alternative, but Alembic does
not run SQLite migrations as one transaction (batch mode recreates tables; ``transactional_ddl`` is off for SQLite),
so the write lock would not span the migration, and a waiter would get "database is locked" after the busy timeout
instead of a line saying what it waits for. An in-memory database lives in one process: no lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from .config_values import ConfigError

if sys.platform != "win32":
    import fcntl

__all__ = ["LOCK_KEY", "LOCK_NAME", "WAITING", "MigrationLockTimeoutError", "lock_file", "migration_lock"]

LOCK_NAME = "authserver.migrations"
LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
"""The advisory lock's key: fixed, so every instance of every version contends for the same lock, and derived from
a name rather than picked, so it is unlikely to collide with another application's lock in the same database."""
WAITING = "waiting for another instance's migration (the migration lock is held)"
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout ends a lock wait
_POLL = 0.05  # seconds between attempts at a held SQLite lock file

log = logging.getLogger("authserver.migrations")


class MigrationLockTimeoutError(ConfigError):
    """Another instance held the migration lock for longer than AUTHSERVER_MIGRATION_LOCK_TIMEOUT. A ConfigError,
    so every surface that starts the server or runs a command already prints it as one line and exits 1."""

    code = "migration_lock_timeout"  # the error code of a command's --json error object

    def __init__(self, timeout: float) -> None:
        super().__init__(
            f"gave up waiting for another instance's migration after {timeout:g}s (the migration lock is still "
            "held); check for a running `authserver db upgrade`, or raise AUTHSERVER_MIGRATION_LOCK_TIMEOUT"
        )


@contextmanager
def migration_lock(engine: Engine, timeout: float) -> Iterator[None]:
    """Hold the deployment's migration lock for the block, waiting up to ``timeout`` seconds for it (one log line
    if it must wait at all)."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, timeout):
            yield
    elif engine.dialect.name == "sqlite" and (path := lock_file(engine)) is not None:
        with _file_lock(path, timeout):
            yield
    else:
        yield


def lock_file(engine: Engine) -> Path | None:
    """The SQLite database's lock file, or None for an in-memory database."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(f"{database}.migration-lock")


@contextmanager
def _advisory_lock(engine: Engine, timeout: float) -> Iterator[None]:
    connection = engine.connect()
    try:
        if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar():
            log.warning(WAITING)
            _wait_for_advisory_lock(connection, timeout)
        connection.commit()  # the lock is the session's: it outlives this transaction, not the connection
    except BaseException:
        connection.invalidate()  # closed, not pooled: nothing it may hold outlives it
        connection.close()
        raise
    try:
        yield
    finally:
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            connection.commit()
        except BaseException:
            connection.invalidate()
            raise
        finally:
            connection.close()


def _wait_for_advisory_lock(connection: Connection, timeout: float) -> None:
    """Block in the server until the lock is free (no polling), bounded by a lock_timeout set for this wait."""
    connection.execute(text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": f"{max(1, int(timeout * 1000))}"})
    try:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise MigrationLockTimeoutError(timeout) from None
        raise
    connection.execute(text("RESET lock_timeout"))  # back to the connection's own (AUTHSERVER_DB_LOCK_TIMEOUT)


@contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    if sys.platform == "win32":  # no flock; one Windows machine runs one instance (documented)
        yield
        return
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(
            f"cannot open the migration lock file {path}: {exc.strerror or exc}; check DATABASE_URL and that the "
            "database's folder can be written"
        ) from None
    try:
        if not _try_flock(descriptor):
            log.warning(WAITING)
            deadline = time.monotonic() + timeout
            while not _try_flock(descriptor):
                if time.monotonic() >= deadline:
                    raise MigrationLockTimeoutError(timeout)
                time.sleep(_POLL)
        yield
    finally:
        os.close(descriptor)  # closing the only descriptor drops the lock


def _try_flock(descriptor: int) -> bool:
    if sys.platform == "win32":
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
