"""SQLite pragmas and schema creation. A demo service: ``create_all`` instead of migrations, on start only."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from .extensions import db


def init_app(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
            Path(app.instance_path).mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def prepare(app) -> None:
    """Create the tables if they are missing (each account starts with an empty store)."""
    from . import models  # noqa: F401  (registers the tables)

    with app.app_context():
        db.create_all()
