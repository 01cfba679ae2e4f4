"""Database plumbing: SQLite pragmas, Alembic migrations run programmatically, start-up preparation."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db
from .services import services

MIGRATIONS = Path(__file__).parent / "migrations"
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


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (safe to call on every start)."""
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def schema_is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


def prepare(app) -> None:
    """What a start needs: the schema migrated (unless switched off) and signing keys checked or created."""
    with app.app_context():
        if app.config["AUTHSERVER_AUTO_MIGRATE"]:
            upgrade(db.engine)
        found = services(app)
        found.keystore.prepare(found.clock.now())
