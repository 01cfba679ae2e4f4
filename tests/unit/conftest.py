"""Fixtures for the unit and HTTP suites: the shared app and world, made cheap enough to build a thousand times.

What dominates building them from scratch is none of what these suites test: RSA key generation and loading
(~0.25 s, as cryptography validates RSA keys on every load), running the migrations on an empty SQLite file, and the
world's dozen domain transactions. So here apps sign with ES256 (RS256 and EdDSA have their own tests in
test_keys.py, test_tokens.py and test_introspection.py), SQLite starts from a copy of a migrated file, and the
standard world is built once by the real domain and then restored row for row, with the same signing key, into
each test's database (on either backend). A test whose clock or key differs gets a world built afresh.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Integer, create_engine, select, text

from authserver import create_app
from authserver.clock import FrozenClock
from authserver.database import prepare, upgrade
from authserver.extensions import db
from tests import factories
from tests.conftest import START
from tests.support.config import make_app_config


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@dataclass
class WorldTemplate:
    world: factories.World
    kid: str
    keys_dir: Path
    rows: dict[str, list[dict]]


@pytest.fixture(scope="session")
def world_template(tmp_path_factory, migrated_sqlite_template) -> WorldTemplate:
    """``factories.make_world`` run once, at START, through the real domain; kept as its rows and its key."""
    tmp = tmp_path_factory.mktemp("world")
    shutil.copyfile(migrated_sqlite_template, tmp / "world.db")
    app = create_app(
        make_app_config(tmp, f"sqlite:///{tmp / 'world.db'}", AUTHSERVER_SIGNING_ALG="ES256"), clock=FrozenClock(START)
    )
    prepare(app)
    services = app.extensions["authserver"]
    with app.app_context():
        world = factories.make_world(services, services.clock)
        rows = {
            table.name: [dict(row._mapping) for row in db.session.execute(select(table))]
            for table in db.metadata.sorted_tables
            if table.name != "signing_keys"
        }  # prepare() records the key
        kid = services.keystore.current_kid()
        db.session.remove()
        db.engine.dispose()
    return WorldTemplate(world=world, kid=kid, keys_dir=tmp / "keys", rows=rows)


@pytest.fixture
def app_config(app_config, migrated_sqlite_template, world_template):
    """The shared config (one per storage backend): ES256 with the world's key, SQLite from a migrated file."""
    uri = app_config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        shutil.copyfile(migrated_sqlite_template, uri.removeprefix("sqlite:///"))
    keys_dir = Path(app_config["AUTHSERVER_KEYS_DIR"])
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for pem in world_template.keys_dir.glob("*.pem"):
        shutil.copy2(pem, keys_dir / pem.name)
    config = {**app_config, "AUTHSERVER_SIGNING_ALG": "ES256"}
    if uri.startswith("postgresql"):  # durability is not under test here; waiting for each commit's fsync is slow
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"options": "-c synchronous_commit=off"}}
    return config


def restore_rows(rows: dict[str, list[dict]]) -> None:
    """Insert the rows in dependency order, then move PostgreSQL's id sequences past them."""
    tables = {table.name: table for table in db.metadata.sorted_tables}
    for table in db.metadata.sorted_tables:
        if rows.get(table.name):
            db.session.execute(table.insert(), rows[table.name])
    if db.engine.dialect.name == "postgresql":
        for name, table_rows in rows.items():
            for column in tables[name].primary_key.columns:
                if table_rows and isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                    sequence = f"pg_get_serial_sequence('{name}', '{column.name}')"
                    statement = f"SELECT setval({sequence}, (SELECT MAX({column.name}) FROM {name}))"  # noqa: S608
                    db.session.execute(text(statement))
    db.session.commit()


@pytest.fixture
def world(app, services, clock, world_template):
    """Two tenants (agency with a sub-account, and an unrelated account), clients and one integration each."""
    if clock.now() != START or services.keystore.current_kid() != world_template.kid:
        return factories.make_world(services, clock)
    restore_rows(world_template.rows)
    return copy.deepcopy(world_template.world)


@pytest.fixture
def lifecycle(services, clock):
    from .helpers import Lifecycle

    return Lifecycle(services, clock)
