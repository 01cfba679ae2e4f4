"""``authserver init`` and ``authserver db ...``: the schema and the signing keys an instance needs to start.

``db upgrade`` and ``db downgrade`` move the schema under the migration lock (docs/schema-migrations.md). A
downgrade drops what the undone migrations added, so it runs only with ``--yes``; it never prompts (``--json``
scripts and pipes must not hang): without ``--yes`` it names what it would undo and exits 1.
"""

from __future__ import annotations

import functools

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from .. import schema
from ..config import ConfigError
from ..database import prepare
from ..extensions import db
from ..httpbase import describe_database_error
from ..issuer import require_issuer
from ..issuer import reset_issuer as reset_recorded_issuer
from ..keys import KeyStoreError
from ..migration_lock import migration_lock
from ..principals import OPERATOR
from ..schema import Change, Revision
from ..unit_of_work import unit_of_work
from .base import JsonError, OneLineCommand, OneLineGroup, command, emit, json_option, services


@click.group("db", cls=OneLineGroup, help="Database schema: its revision, history, upgrade and downgrade.")
def db_group():
    pass


class DatabaseUnavailableError(ConfigError):
    """The database could not be reached or refused the command: one line, as at start-up, not a traceback."""

    code = "database_unavailable"


def _database_errors(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc.__class__.__name__).splitlines()[0]
            raise DatabaseUnavailableError(f"{describe_database_error(exc)} ({reason}); check DATABASE_URL") from None

    return wrapper


def _timeout() -> float:
    return current_app.config["AUTHSERVER_MIGRATION_LOCK_TIMEOUT"]


def _revision(revision: Revision) -> dict:
    return {"revision": revision.id, "description": revision.description}


def _change(change: Change, key: str) -> dict:
    return {"status": "ok", "from": change.before, "to": change.after, key: [_revision(r) for r in change.steps]}


def _listed(steps: list[Revision]) -> str:
    return ", ".join(f"{step.id} ({step.description})" for step in steps)


@command(db_group, "current", transaction=False)
@json_option
@_database_errors
def db_current(as_json):
    """The database's schema revision, and whether it is this version's newest."""
    state = schema.read_state(db.engine)
    names = {revision.id: revision.description for revision in schema.history()}
    payload = {
        "revision": state.current,
        "description": names.get(state.current) if state.current else None,
        "is_head": state.is_head,
        "head": state.head,
        "known": state.known,
    }
    if state.current is None:
        text = f"no schema yet (this version's head is {state.head}): run `authserver db upgrade`"
    elif not state.known:
        text = f"{state.current}: unknown to this version (its head is {state.head}); a newer version migrated it"
    else:
        text = f"{state.current} ({payload['description']})" + (
            " (head)" if state.is_head else f"; head is {state.head}: run `authserver db upgrade`"
        )
    emit(as_json, payload, text)


@command(db_group, "history", transaction=False)
@json_option
@_database_errors
def db_history(as_json):
    """Every revision, oldest first, and which are applied."""
    state = schema.read_state(db.engine)
    revisions = schema.history()
    ids = [revision.id for revision in revisions]
    applied_up_to = ids.index(state.current) if state.known and state.current else -1
    rows = [
        {
            **_revision(revision),
            "applied": index <= applied_up_to,
            "current": revision.id == state.current,
            "head": revision.id == state.head,
        }
        for index, revision in enumerate(revisions)
    ]
    lines = [
        f"{'*' if row['applied'] else ' '} {row['revision']}  {row['description']}"
        + ("  <- current" if row["current"] else "")
        + ("  (head)" if row["head"] else "")
        for row in rows
    ]
    if not state.known:
        lines.append(f"  {state.current}  (unknown to this version)  <- current")
    payload = {"current": state.current, "head": state.head, "known": state.known, "revisions": rows}
    emit(as_json, payload, "\n".join(lines))


@command(db_group, "upgrade", transaction=False)
@click.argument("revision", required=False, default="head")
@json_option
@_database_errors
def db_upgrade(revision, as_json):
    """Apply migrations up to REVISION (default: head, the newest), under the migration lock."""
    change = schema.upgrade(db.engine, revision, timeout=_timeout())
    if not change.steps:
        text = "database schema is up to date" if revision == "head" else f"database schema is already at {revision}"
    else:
        text = f"applied {_listed(change.steps)}; database schema is at {change.after}"
    emit(as_json, _change(change, "applied"), text)


@command(db_group, "downgrade", transaction=False)
@click.argument("revision")
@click.option(
    "--yes",
    is_flag=True,
    help="Required: a downgrade drops the tables and columns it undoes. Default: name them and stop.",
)
@json_option
@_database_errors
def db_downgrade(revision, yes, as_json):
    """Undo the migrations after REVISION (a revision id, or base), under the migration lock."""
    steps = schema.plan_downgrade(db.engine, revision)
    if not steps:
        target = None if revision == "base" else revision
        payload = {"status": "ok", "from": target, "to": target, "undone": []}
        emit(as_json, payload, f"database schema is already at {revision}")
        return
    if not yes:
        raise ConfigError(
            f"a downgrade to {revision} would undo {_listed(steps)} and drop the data they hold; "
            "take a backup and run again with --yes"
        )
    change = schema.downgrade(db.engine, revision, timeout=_timeout())
    text = f"undid {_listed(change.steps)}; database schema is at {change.after or 'base (empty)'}"
    emit(as_json, _change(change, "undone"), text)


@click.command("init", cls=OneLineCommand)
@click.option(
    "--reset-issuer",
    is_flag=True,
    help="Record AUTHSERVER_ISSUER as this instance's issuer in place of the recorded one (audited); tokens issued "
    "before name the old issuer. Default: refuse when they differ.",
)
@json_option
@with_appcontext
def init(reset_issuer, as_json):
    """Create or upgrade the database and the signing keys, and record AUTHSERVER_ISSUER as the issuer every token
    names (idempotent; migrates even with auto-migrate off)."""
    found = services()
    issuer = current_app.config["AUTHSERVER_ISSUER"]
    try:
        prepare(current_app, migrate=True)
        with migration_lock(db.engine, _timeout()), unit_of_work():  # instances starting at once record it once
            if reset_issuer:
                previous = reset_recorded_issuer(OPERATOR, issuer, now=found.clock.now())
            else:
                previous, issuer = None, require_issuer(OPERATOR, issuer, now=found.clock.now())
    except (KeyStoreError, ConfigError) as exc:
        if as_json:
            raise JsonError(str(exc), code=getattr(exc, "code", "invalid_input")) from None
        raise click.ClickException(str(exc)) from None
    payload = {
        "database": current_app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1],
        "keys_dir": str(found.keystore.directory),
        "current_kid": found.keystore.current_kid(found.clock.now()),
        "issuer": issuer,
        "previous_issuer": previous,
    }
    changed = f"; issuer changed from {previous}" if previous else ""
    emit(as_json, payload, f"ready: schema migrated, signing key {payload['current_kid']}, issuer {issuer}{changed}")
