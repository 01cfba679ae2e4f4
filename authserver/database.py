"""Database plumbing: SQLite pragmas and start-up preparation (the schema's revision and moves: ``schema.py``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import schema
from .config_values import ConfigError
from .extensions import db
from .migration_lock import migration_lock
from .schema import Change, alembic_config
from .services import services

__all__ = ["INTEGER_MAX", "alembic_config", "init_app", "prepare", "schema_is_current", "upgrade"]

OLDEST_SQLITE = (3, 33, 0)
"""The activity flush writes each batch as one ``UPDATE ... FROM json_each(...)`` (activity/batch_writes.py)."""

INTEGER_MAX = 2**31 - 1
"""The largest value an INTEGER column (ids, cursors, versions) holds on every backend: PostgreSQL's is 32-bit. A
number from outside compared with one is refused above this, as a 400, before the database refuses it as an error."""


def init_app(app) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            Path(app.instance_path).mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


DEFAULT_LOCK_TIMEOUT = 600.0  # AUTHSERVER_MIGRATION_LOCK_TIMEOUT's default, for callers without an app


def require_supported_sqlite(engine: Engine) -> None:
    """Refuse to start on a SQLite library too old for the activity flush's statements: one clear line at start,
    not a flush failing every few seconds while uses pile up in memory."""
    if engine.dialect.name == "sqlite" and sqlite3.sqlite_version_info < OLDEST_SQLITE:
        oldest = ".".join(map(str, OLDEST_SQLITE))
        raise ConfigError(
            f"SQLite {sqlite3.sqlite_version} is too old: authserver needs {oldest} or newer "
            "(Python's sqlite3 module is linked against it; use a newer Python build or PostgreSQL)"
        )


def upgrade(engine: Engine, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Change:
    """Bring the schema to the newest revision under the migration lock (safe to call on every start)."""
    return schema.upgrade(engine, timeout=timeout)


def schema_is_current(engine: Engine) -> bool:
    return schema.read_state(engine).is_head


def prepare(app: Flask, *, migrate: bool | None = None) -> None:
    """What a start needs: the schema at this code's revision (migrated, or with AUTHSERVER_AUTO_MIGRATE off only
    checked) and the signing keys checked or created. Both under the migration lock, so instances starting at once
    on a fresh database migrate once and create one first key. ``migrate`` overrides the setting (``init``)."""
    with app.app_context():
        engine = db.engine
        require_supported_sqlite(engine)
        timeout = app.config["AUTHSERVER_MIGRATION_LOCK_TIMEOUT"]
        if migrate is None:
            migrate = app.config["AUTHSERVER_AUTO_MIGRATE"]
        with migration_lock(engine, timeout):  # a start during a release step's migration waits for its end
            if migrate:
                schema.upgrade_holding_lock(engine)
            else:
                schema.require_current(engine)
            found = services(app)
            found.keystore.prepare(found.clock.now())
