"""``authserver init`` and ``authserver db ...``: the schema and the signing keys an instance needs to start."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..config import ConfigError
from ..database import prepare, upgrade
from ..extensions import db
from ..keys import KeyStoreError
from .base import OneLineCommand, OneLineGroup, command, emit, json_option, services


@click.group("db", cls=OneLineGroup, help="Database schema.")
def db_group():
    pass


@command(db_group, "upgrade")
@json_option
def db_upgrade(as_json):
    """Apply migrations up to the newest revision."""
    upgrade(db.engine)
    emit(as_json, {"status": "ok"}, "database schema is up to date")


@click.command("init", cls=OneLineCommand)
@json_option
@with_appcontext
def init(as_json):
    """Create or upgrade the database and the signing keys (idempotent)."""
    try:
        prepare(current_app)
    except (KeyStoreError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    found = services()
    payload = {
        "database": current_app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1],
        "keys_dir": str(found.keystore.directory),
        "current_kid": found.keystore.current_kid(found.clock.now()),
    }
    emit(as_json, payload, f"ready: schema migrated, signing key {payload['current_kid']}")
