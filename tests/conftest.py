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

START = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app_config(tmp_path) -> dict:
    """Config for an isolated app; DATABASE_URL-style overrides come from AUTHSERVER_TEST_DATABASE_URL."""
    return {
        "INSTANCE_PATH": tmp_path / "instance",
        "SQLALCHEMY_DATABASE_URI": os.environ.get("AUTHSERVER_TEST_DATABASE_URL")
        or f"sqlite:///{tmp_path / 'test.db'}",
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "AUTHSERVER_ISSUER": "http://127.0.0.1:5000",
        "AUTHSERVER_ACTIVITY_FLUSH_INTERVAL": 3600.0,  # tests flush by hand
        "SECRET_KEY": "test-secret-key",
        "TESTING": True,
    }


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
