"""The database schema's revision: where it stands, what this code expects, and moving it under the migration lock.

Alembic runs programmatically on a connection handed to ``migrations/env.py`` (no alembic.ini). Every move
(``upgrade``, ``downgrade``) takes the migration lock (``migration_lock.py``), then reads the revision again: an
instance that waited while another migrated finds the schema current and does nothing.

A schema newer than the code (a revision this code does not know: the code was rolled back after an upgrade) is
refused, by starts and by every move. Its migrations may have dropped or renamed what this code reads, and nothing
says they did not; running the newer code, or its ``db downgrade``, is the way back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import Engine

from .config_values import ConfigError
from .migration_lock import migration_lock

__all__ = [
    "Change",
    "Revision",
    "SchemaMismatchError",
    "SchemaState",
    "UnknownRevisionError",
    "alembic_config",
    "downgrade",
    "history",
    "plan_downgrade",
    "read_state",
    "require_current",
    "upgrade",
    "upgrade_holding_lock",
]

MIGRATIONS = Path(__file__).parent / "migrations"
BASE = "base"  # before the first revision: no schema
HEAD = "head"
VERSION_TABLE = "alembic_version"  # Alembic's default: one row, the revision the schema is at
_VERSION = table(VERSION_TABLE, column("version_num"))


class SchemaMismatchError(ConfigError):
    """The schema is not where this code can start or go from (too old with auto-migrate off, newer than the code,
    or a move in the wrong direction). A ConfigError: every surface prints it as one line and exits 1."""

    code = "schema_mismatch"  # the error code of a command's --json error object


class UnknownRevisionError(ConfigError):
    """A revision named on the command line that this code's migrations do not have."""

    code = "unknown_revision"

    def __init__(self, revision: str) -> None:
        super().__init__(f"unknown revision {revision!r}; `authserver db history` lists the revisions")


@dataclass(frozen=True)
class Revision:
    id: str
    description: str


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # None: no schema yet
    head: str  # the newest revision this code has
    known: bool  # False: the database is at a revision this code does not have (newer code migrated it)

    @property
    def is_head(self) -> bool:
        return self.current == self.head


@dataclass(frozen=True)
class Change:
    """What a move did: from and to (None: no schema), and the revisions applied or undone, in the order run."""

    before: str | None
    after: str | None
    steps: list[Revision]


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def history() -> list[Revision]:
    """Every revision of this code, oldest first."""
    return list(_history())


@functools.cache
def _history() -> tuple[Revision, ...]:
    """Read once per process: the migration scripts ship with the code and do not change under it."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return tuple(Revision(script.revision, script.doc) for script in reversed(list(scripts.walk_revisions())))


def read_state(engine: Engine) -> SchemaState:
    revisions = history()
    with engine.connect() as connection:  # read directly: Alembic's context would log two lines at every start
        has_table = inspect(connection).has_table(VERSION_TABLE)
        current = connection.execute(select(_VERSION.c.version_num)).scalar() if has_table else None
    known = current is None or any(revision.id == current for revision in revisions)
    return SchemaState(current=current, head=revisions[-1].id, known=known)


def require_current(engine: Engine) -> None:
    """A start without auto-migrate: the schema must be exactly this code's head."""
    state = read_state(engine)
    _refuse_unknown(state)
    if not state.is_head:
        at = f"at revision {_describe(state.current)}" if state.current else "empty (no revision)"
        raise SchemaMismatchError(
            f"the database schema is {at}, but this version of authserver needs {_describe(state.head)} and "
            "AUTHSERVER_AUTO_MIGRATE is off: run `authserver db upgrade`"
        )


def upgrade(engine: Engine, target: str = HEAD, *, timeout: float) -> Change:
    """Apply the migrations up to ``target`` (default: the newest), under the migration lock; safe on every start."""
    resolved = _resolve(target, allow=HEAD)
    with migration_lock(engine, timeout):
        return upgrade_holding_lock(engine, resolved)


def upgrade_holding_lock(engine: Engine, target: str = HEAD) -> Change:
    """``upgrade`` for a caller that already holds the migration lock (start-up, which holds it for the keys too:
    the lock is not re-entrant, a second acquisition in the same process would wait for itself)."""
    resolved = _resolve(target, allow=HEAD)
    state = read_state(engine)
    steps = _plan_upgrade(state, resolved)
    if steps:
        _run(engine, command.upgrade, resolved)
    return Change(state.current, steps[-1].id if steps else state.current, steps)


def plan_downgrade(engine: Engine, target: str) -> list[Revision]:
    """The revisions a downgrade to ``target`` would undo, newest first (checked, nothing changed)."""
    return _plan_downgrade(read_state(engine), _resolve(target, allow=BASE))


def downgrade(engine: Engine, target: str, *, timeout: float) -> Change:
    """Undo the migrations after ``target`` (``base``: all of them), under the migration lock. Destructive: the
    columns and tables they added go, with their data."""
    resolved = _resolve(target, allow=BASE)
    with migration_lock(engine, timeout):
        state = read_state(engine)
        steps = _plan_downgrade(state, resolved)
        if steps:
            _run(engine, command.downgrade, resolved)
    return Change(state.current, None if resolved == BASE else resolved, steps)


def _run(engine: Engine, step: Callable[[Config, str], None], target: str) -> None:
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        step(config, target)


def _resolve(target: str, *, allow: str) -> str:
    revisions = history()
    if target == allow:
        return revisions[-1].id if allow == HEAD else BASE
    if any(revision.id == target for revision in revisions):
        return target
    raise UnknownRevisionError(target)


def _plan_upgrade(state: SchemaState, target: str) -> list[Revision]:
    _refuse_unknown(state)
    ids = [revision.id for revision in history()]
    start = ids.index(state.current) + 1 if state.current else 0
    end = ids.index(target) + 1
    if end < start:
        raise SchemaMismatchError(
            f"the database schema is at {state.current}, past {target}; to go back run "
            f"`authserver db downgrade {target}`"
        )
    return history()[start:end]


def _plan_downgrade(state: SchemaState, target: str) -> list[Revision]:
    _refuse_unknown(state)
    ids = [revision.id for revision in history()]
    start = ids.index(target) + 1 if target != BASE else 0
    end = ids.index(state.current) + 1 if state.current else 0
    if end < start:
        raise SchemaMismatchError(
            f"the database schema is at {state.current or 'no revision'}, before {target}; to go forward run "
            f"`authserver db upgrade {target}`"
        )
    return list(reversed(history()[start:end]))


def _refuse_unknown(state: SchemaState) -> None:
    if not state.known:
        raise SchemaMismatchError(
            f"the database schema is at revision {state.current}, which this version of authserver does not know "
            f"(its newest is {state.head}): a newer version migrated it; run that version, or downgrade with it "
            f"(`authserver db downgrade {state.head}`) before starting this one"
        )


def _describe(revision: str | None) -> str:
    names = {revision.id: revision.description for revision in history()}
    return f"{revision} ({names[revision]})" if revision in names else str(revision)
