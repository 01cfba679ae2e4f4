"""A SQLite library too old for the activity flush's statements is refused at start, in one clear line."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine

from authserver import database
from authserver.config_values import ConfigError


def test_too_old_sqlite_is_refused(monkeypatch):
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 32, 3))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.32.3")
    with pytest.raises(ConfigError, match=r"SQLite 3\.32\.3 is too old: authserver needs 3\.33\.0 or newer"):
        database.require_supported_sqlite(create_engine("sqlite://"))


def test_this_sqlite_and_postgresql_urls_pass(monkeypatch):
    database.require_supported_sqlite(create_engine("sqlite://"))
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 7, 0))
    database.require_supported_sqlite(create_engine("postgresql+psycopg://u@127.0.0.1/none"))  # not asked
