"""The hot-path read's kept connections: autocommit, dropped on disposal and after a fork, replaced when killed."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from authserver.extensions import db
from authserver.hotpath.prepared_reads import read_connections
from authserver.tokens import load_state


def test_reads_see_commits_made_after_the_connection_was_kept(app, world, lifecycle):
    assert load_state(world.agency.jti).revoked_at is None  # opens the connection and keeps it
    lifecycle.expire_now(world.agency.integration_id)
    db.session.remove()
    assert load_state(world.agency.jti).revoked_at is not None


def test_kept_connections_hold_no_transaction_open(app, world):
    load_state(world.agency.jti)
    (connection,) = read_connections(db.engine)._idle
    if db.engine.dialect.name == "sqlite":
        assert connection.in_transaction is False
    else:
        assert connection.info.transaction_status.name == "IDLE"


def test_disposing_the_engine_closes_the_kept_connections(app, world):
    load_state(world.agency.jti)
    connections = read_connections(db.engine)
    (kept,) = connections._idle
    db.engine.dispose()
    assert connections._idle == []
    with pytest.raises(Exception):  # noqa: B017,PT011 - sqlite3 and psycopg raise their own "closed" errors
        kept.cursor().execute("SELECT 1")
    assert load_state(world.agency.jti) is not None  # a new one is opened


def test_after_a_fork_the_parents_connections_are_neither_used_nor_closed(app, world):
    load_state(world.agency.jti)
    connections = read_connections(db.engine)
    (parents,) = connections._idle
    connections._pid = -1  # as seen from a child process
    assert load_state(world.agency.jti) is not None
    assert parents not in connections._idle and parents in connections._inherited  # kept from finalisers
    parents.cursor().execute("SELECT 1")  # still open: it is the parent's to close
    connections._inherited.clear()
    parents.close()


def test_a_connection_that_died_is_replaced_without_an_error(app, world):
    """PostgreSQL: the server ended the session (restart, failover, idle timeout). SQLite: the handle was closed."""
    load_state(world.agency.jti)
    connections = read_connections(db.engine)
    (kept,) = connections._idle
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": kept.info.backend_pid})
    else:
        kept.close()
    assert load_state(world.agency.jti).jti == world.agency.jti
    assert kept not in connections._idle
