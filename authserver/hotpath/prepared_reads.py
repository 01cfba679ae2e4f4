"""Hot-path reads: a SELECT compiled once per engine and run on a kept autocommit connection, for the one query that
every introspection makes. Measured in ``bench/``: SQLAlchemy's per-execution bookkeeping (connection wrapper,
execution context, result object) and the pool's checkout and reset-on-return cost several times the indexed read.

The connections come from the engine (same URL, connect arguments and ``connect`` events, e.g. SQLite's pragmas),
are detached from its pool and switched to autocommit: a single SELECT needs no transaction around it, so no BEGIN
and no rollback on return (on PostgreSQL one round trip instead of three). Each sees every commit made before it
runs. They are kept in a small LIFO list, so thread-per-request servers reuse them too.

What stays the same as a Core execution: the column types' result processing, and errors, which are raised as
SQLAlchemy's exceptions so that every surface still fails closed with a 503. A connection that failed is closed,
never reused; a read that failed because the server dropped the connection is retried once on a new one.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from .fair_gate import NOT_GATED, WaitHook

KEPT_CONNECTIONS = 16  # per engine and process: the serving threads of one worker
SQLITE_READ_CACHE_KIB = 32 * 1024


class ReadConnections:
    """Autocommit DBAPI connections for one engine in one process."""

    def __init__(self, engine: Engine, keep: int = KEPT_CONNECTIONS) -> None:
        self.engine = engine
        self.keep = keep
        self._idle: list = []
        self._inherited: list = []
        self._pid = os.getpid()
        self.remote = engine.dialect.name != "sqlite"

    def acquire(self):
        if self._pid != os.getpid():
            self._forked()
        try:
            return self._idle.pop()  # atomic under the GIL; an empty list means "open one"
        except IndexError:
            return self._open()

    def release(self, connection) -> None:
        if len(self._idle) < self.keep and self._pid == os.getpid():
            self._idle.append(connection)
        else:
            _close_quietly(connection)

    def _forked(self) -> None:
        """In a child process the parent's connections are the parent's: never used, and never closed or garbage
        collected here either (a client library's finaliser would end the parent's session on the server)."""
        self._inherited.extend(self._idle)
        self._idle, self._pid = [], os.getpid()

    def discard(self, connection) -> None:
        _close_quietly(connection)

    def close_all(self) -> None:
        """The engine was disposed (tests, a fork, shutdown): stop handing out its connections."""
        if self._pid != os.getpid():
            self._forked()
        idle, self._idle = self._idle, []
        for connection in idle:
            _close_quietly(connection)

    def _open(self):
        proxied = self.engine.raw_connection()  # runs the engine's connect events once, for a new connection
        proxied.detach()  # ours from now on: the pool neither counts nor resets it
        connection = proxied.dbapi_connection
        if self.engine.dialect.name == "sqlite":
            connection.isolation_level = None  # sqlite3's autocommit: no implicit BEGIN
            # The hot tokens' index and row pages, kept in this connection's page cache instead of read again from
            # the file on each miss (SQLite's default is 2 MiB). Reads are served one at a time per worker from the
            # most recently used connection, so in practice one connection per worker fills it.
            connection.execute(f"PRAGMA cache_size=-{SQLITE_READ_CACHE_KIB}")
        else:
            connection.autocommit = True  # psycopg
        return connection


def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:  # noqa: S110 - a broken connection is being thrown away; nothing to report
        pass


_READ_CONNECTIONS: weakref.WeakKeyDictionary[Engine, ReadConnections] = weakref.WeakKeyDictionary()
_READ_CONNECTIONS_LOCK = threading.Lock()


def read_connections(engine: Engine) -> ReadConnections:
    found = _READ_CONNECTIONS.get(engine)
    if found is None:
        with _READ_CONNECTIONS_LOCK:
            found = _READ_CONNECTIONS.get(engine)
            if found is None:
                found = _READ_CONNECTIONS[engine] = ReadConnections(engine)
                event.listen(engine, "engine_disposed", lambda _engine: found.close_all())
    return found


class PreparedRead:
    """``first(engine, params)``: the first row of ``statement`` with its columns processed as SQLAlchemy would
    (e.g. SQLite's text timestamps become datetimes), or None. ``wait`` is entered around the round trip to a
    remote database (the direct path's gate step-out; see fair_gate)."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: weakref.WeakKeyDictionary[Engine, tuple[str, Sequence[str] | None, list[Callable | None]]]
        self._compiled = weakref.WeakKeyDictionary()

    def _for(self, engine: Engine) -> tuple[str, Sequence[str] | None, list[Callable | None]]:
        found = self._compiled.get(engine)
        if found is None:
            dialect = engine.dialect
            compiled = self.statement.compile(dialect=dialect)
            processors = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            ]
            found = self._compiled[engine] = (str(compiled), compiled.positiontup, processors)
        return found

    def first(self, engine: Engine, params: dict[str, Any], wait: WaitHook = NOT_GATED) -> tuple | None:
        sql, positions, processors = self._for(engine)
        arguments = tuple(params[name] for name in positions) if positions is not None else params
        connections = read_connections(engine)
        try:
            row = _fetch_first(connections, sql, arguments, wait)
        except _Disconnected:
            row = _fetch_first(connections, sql, arguments, wait, retried=True)
        if row is None:
            return None
        return tuple(
            value if process is None else process(value) for process, value in zip(processors, row, strict=True)
        )


class _Disconnected(Exception):
    pass


def _fetch_first(connections: ReadConnections, sql: str, arguments, wait: WaitHook, *, retried: bool = False):
    engine = connections.engine
    dialect = engine.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    connection = None
    try:
        # A network round trip: the next request's Python work goes on meanwhile. SQLite's read is in-process and
        # shorter than the hand-over (measured: stepping out raised its p99 from 4.7 to 6.3 ms).
        with wait if connections.remote else NOT_GATED:
            connection = connections.acquire()
            cursor = connection.cursor()
            try:
                cursor.execute(sql, arguments)
                rows = cursor.fetchall()  # at most a few rows; reading them all ends the statement (no open snapshot)
            finally:
                cursor.close()
    except dbapi_error as exc:
        disconnected = dialect.is_disconnect(exc, connection, None)
        if connection is not None:
            connections.discard(connection)
        if disconnected and not retried:
            raise _Disconnected() from exc
        raise DBAPIError.instance(
            sql,
            arguments,
            exc,
            dbapi_error,
            hide_parameters=engine.hide_parameters,
            connection_invalidated=disconnected,
            dialect=dialect,
        ) from exc
    connections.release(connection)
    return rows[0] if rows else None
