"""Shared fixtures: an app on a throwaway SQLite database with throwaway keys and a clock the test controls."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from authserver import create_app
from authserver.clock import FrozenClock
from authserver.database import prepare
from authserver.extensions import db

from . import factories
from .support import passwords
from .support.config import make_app_config
from .support.databases import ThrowawayPostgres, postgres_available

START = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def _passwords_hashed_once():
    """People are made and sign in hundreds of times with a few passwords: see tests/support/passwords.py."""
    with pytest.MonkeyPatch.context() as patch:
        passwords.install(patch)
        yield


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


BACKENDS = [b for b in os.environ.get("AUTHSERVER_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@pytest.fixture(scope="session")
def postgres_database():
    """One throwaway PostgreSQL database per run; each test empties it afterwards."""
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432, but CI must test both backends")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    database = ThrowawayPostgres()
    yield database
    database.drop()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Every app-level test runs on each storage backend: SQLite (embedded) and PostgreSQL (scale-out)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    database = request.getfixturevalue("postgres_database")
    yield database.url
    from authserver.extensions import db as _db

    database.truncate_all(_db.metadata)


@pytest.fixture
def app_config(tmp_path, database_url) -> dict:
    """Config for an isolated app on a throwaway database, keys directory and instance folder."""
    return make_app_config(tmp_path, database_url)


@pytest.fixture
def app(app_config, clock):
    app = create_app(app_config, clock=clock)
    prepare(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def services(app):
    return app.extensions["authserver"]


@pytest.fixture
def world(app, services, clock):
    """Two tenants (agency with a sub-account, and an unrelated account), clients and one integration each."""
    return factories.make_world(services, clock)
