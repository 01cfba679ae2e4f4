"""Fixtures for the unit and HTTP suites: the shared app, made cheap enough to build hundreds of times.

Two costs dominate an app built from scratch, neither of which these suites are about: RSA key generation and
loading (~0.25 s, because cryptography validates RSA keys on every load) and running the migrations on an empty
SQLite file (~0.1 s). So these suites sign with ES256 by default (RS256 and EdDSA get their own tests in
test_keys.py, test_tokens.py and test_introspection.py) and start SQLite from a copy of an already-migrated file.
"""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import create_engine

from authserver.database import upgrade


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def app_config(app_config, migrated_sqlite_template):
    """The shared config (one per storage backend), signing with ES256 and starting from a migrated file."""
    uri = app_config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        shutil.copyfile(migrated_sqlite_template, uri.removeprefix("sqlite:///"))
    return {**app_config, "AUTHSERVER_SIGNING_ALG": "ES256"}


@pytest.fixture
def lifecycle(services, clock):
    from .helpers import Lifecycle

    return Lifecycle(services, clock)
