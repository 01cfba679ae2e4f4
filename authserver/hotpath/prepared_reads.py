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

On SQLite, a row read is also kept (as the object made of it) while nothing has been committed since: before each
read, ``PRAGMA data_version`` is asked on the connection about to be used, and it changes when any other connection,
in any process, commits (sqlite.org/pragma.html#pragma_data_version). The rows kept are tagged with the connection
and the value seen before they were read; a later read on the same connection that sees the same value gets them,
any other value or connection starts an empty set. These connections never write, so no commit goes unseen. The
pragma is cheaper than the read and its column processing (measured: bench/introspection_cpu.py). PostgreSQL reads
are not kept (no equally exact signal without a round trip).

On PostgreSQL with psycopg, the read goes straight through libpq (psycopg's ``pgconn``): the statement is prepared
once per connection under its own name and then run with ``exec_prepared``, which releases the GIL while it waits;
the row's values are loaded by psycopg's own ``Transformer`` (the same loaders a cursor uses). Measured: ~30 us of
CPU per read instead of ~90 through a new cursor (psycopg's Python-level query conversion, prepare bookkeeping and
generator-based waiting), about a fifth of an introspection's CPU on PostgreSQL (bench/records.py --postgres).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ..process_id import current_pid
from .fair_gate import NOT_GATED, WaitHook

KEPT_CONNECTIONS = 16  # per engine and process: the serving threads of one worker
SQLITE_READ_CACHE_KIB = 32 * 1024
T = TypeVar("T")
KEPT_ROWS = 4096  # per engine and process, SQLite only: rows kept while the database is unchanged (see above)
_MISSING = object()
# Rows read ahead for the request being served (hotpath/paired_reads): (compiled statement, arguments) -> what
# ``first`` would return. Set only around one request's endpoint call; each entry is taken at most once.
_PREFETCHED: ContextVar[dict[tuple, Any] | None] = ContextVar("authserver_prefetched_reads", default=None)


@contextmanager
def serving_prefetched(rows: dict[tuple, Any] | None) -> Iterator[None]:
    """While inside, ``PreparedRead.first`` with exactly a key of ``rows`` (its statement compiled for that engine,
    and the same arguments) returns that entry once instead of reading; any other read goes to the database."""
    if not rows:
        yield
        return
    token = _PREFETCHED.set(rows)
    try:
        yield
    finally:
        _PREFETCHED.reset(token)


class _KeptRows:
    """Rows read on ``connection`` while its ``PRAGMA data_version`` was ``version``. Never changed once replaced,
    so a thread holding it judges it by its own tag, whatever another thread put in its place meanwhile."""

    __slots__ = ("connection", "rows", "version")

    def __init__(self, connection, version) -> None:
        self.connection = connection
        self.version = version
        self.rows: dict[tuple, Any] = {}


class ReadConnections:
    """Autocommit DBAPI connections for one engine in one process."""

    def __init__(self, engine: Engine, keep: int = KEPT_CONNECTIONS) -> None:
        self.engine = engine
        self.keep = keep
        self._idle: list = []
        self._inherited: list = []
        self._pid = current_pid()
        self.remote = engine.dialect.name != "sqlite"
        self.libpq = engine.dialect.driver == "psycopg"  # reads through psycopg's pgconn (module docstring)
        self._kept: _KeptRows | None = None  # SQLite: rows valid while nothing is committed (module docstring)
        self._statements: weakref.WeakKeyDictionary[Any, _PreparedOnConnection] = weakref.WeakKeyDictionary()

    def prepared_on(self, connection) -> _PreparedOnConnection:
        found = self._statements.get(connection)
        if found is None:
            found = self._statements[connection] = _PreparedOnConnection(connection)
        return found

    def kept_rows(self, connection, version) -> dict[tuple, Any]:
        """The rows kept for ``connection`` at ``version`` (its data_version, asked just before): the current set if
        its tag is exactly that, else a new empty set that becomes the current one."""
        kept = self._kept
        if kept is None or kept.connection is not connection or kept.version != version:
            kept = self._kept = _KeptRows(connection, version)
        return kept.rows

    def acquire(self):
        if self._pid != current_pid():
            self._forked()
        try:
            return self._idle.pop()  # atomic under the GIL; an empty list means "open one"
        except IndexError:
            return self._open()

    def release(self, connection) -> None:
        if len(self._idle) < self.keep and self._pid == current_pid():
            self._idle.append(connection)
        else:
            _close_quietly(connection)

    def _forked(self) -> None:
        """In a child process the parent's connections are the parent's: never used, and never closed or garbage
        collected here either (a client library's finaliser would end the parent's session on the server)."""
        self._inherited.extend(self._idle)
        self._idle, self._pid, self._kept = [], current_pid(), None

    def discard(self, connection) -> None:
        self._kept = None
        _close_quietly(connection)

    def close_all(self) -> None:
        """The engine was disposed (tests, a fork, shutdown): stop handing out its connections."""
        if self._pid != current_pid():
            self._forked()
        idle, self._idle, self._kept = self._idle, [], None
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
_LAST_READ_CONNECTIONS: list[ReadConnections | None] = [None]


def read_connections(engine: Engine) -> ReadConnections:
    found = _LAST_READ_CONNECTIONS[0]
    if found is not None and found.engine is engine:  # the engine every request uses: no weak-keyed lookup
        return found
    found = _READ_CONNECTIONS.get(engine)
    if found is None:
        with _READ_CONNECTIONS_LOCK:
            found = _READ_CONNECTIONS.get(engine)
            if found is None:
                found = _READ_CONNECTIONS[engine] = ReadConnections(engine)
                event.listen(engine, "engine_disposed", lambda _engine: found.close_all())
    _LAST_READ_CONNECTIONS[0] = found
    return found


class PreparedRead(Generic[T]):  # noqa: UP046 - Python 3.11 is supported
    """``first(engine, params)``: ``make`` of the first row of ``statement`` with its columns processed as SQLAlchemy
    would (e.g. SQLite's text timestamps become datetimes), or None. ``make`` must return an immutable value: on
    SQLite it may be handed out again while the database is unchanged (module docstring). ``wait`` is entered around
    the round trip to a remote database (the direct path's gate step-out; see fair_gate)."""

    def __init__(self, statement: Select, make: Callable[[tuple], T]) -> None:
        self.statement = statement
        self.make = make
        self._compiled: weakref.WeakKeyDictionary[Engine, CompiledRead] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[Engine], CompiledRead] | None = None  # the engine every request uses, first

    def compiled_for(self, engine: Engine) -> CompiledRead:
        last = self._last
        if last is not None and last[0]() is engine:
            return last[1]
        found = self._compiled.get(engine)
        if found is None:
            found = self._compiled[engine] = compile_read(self.statement, engine)
        self._last = (weakref.ref(engine), found)
        return found

    def first(self, engine: Engine, params: dict[str, Any], wait: WaitHook = NOT_GATED) -> T | None:
        compiled = self.compiled_for(engine)
        connections = read_connections(engine)
        arguments = compiled.arguments(params, connections)
        prefetched = _PREFETCHED.get()
        if prefetched is not None and type(arguments) is tuple:
            found = prefetched.pop((compiled, arguments), _MISSING)  # used once, and only with these arguments
            if found is not _MISSING:
                return found
        return read_first(connections, compiled, arguments, self.make, wait)


def read_first(connections: ReadConnections, compiled: CompiledRead, arguments, make: Callable, wait: WaitHook):
    """``make`` of the first row of ``compiled`` run with ``arguments`` on one of ``connections``, or None; a read
    that failed because the server dropped the connection is tried once more on a new one."""
    try:
        return _fetch_first(connections, compiled, arguments, make, wait)
    except _Disconnected:
        return _fetch_first(connections, compiled, arguments, make, wait, retried=True)


def compile_read(statement: Select, engine: Engine) -> CompiledRead:
    """``statement`` compiled once for ``engine``'s dialect, with its columns' result processors; on psycopg also
    with ``$n`` parameters for libpq."""
    dialect = engine.dialect
    compiled = statement.compile(dialect=dialect)
    processors = [
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in statement.selected_columns
    ]
    found = CompiledRead(str(compiled), compiled.positiontup, processors)
    if dialect.driver == "psycopg":
        numbered_dialect = type(dialect)(paramstyle="numeric_dollar")  # type: ignore[call-arg]
        numbered = statement.compile(dialect=numbered_dialect)
        found.libpq_sql, found.libpq_positions = str(numbered).encode(), numbered.positiontup or ()
    return found


class CompiledRead:
    """A statement as the driver runs it: its SQL, the order of its parameters, its columns' processors."""

    __slots__ = ("libpq_positions", "libpq_sql", "positions", "processors", "sql")

    def __init__(self, sql: str, positions: Sequence[str] | None, processors: list[Callable | None]) -> None:
        self.sql, self.positions, self.processors = sql, positions, processors
        self.libpq_sql: bytes | None = None  # the same statement with $n parameters, for libpq (psycopg only)
        self.libpq_positions: Sequence[str] = ()

    def arguments(self, params: dict[str, Any], connections: ReadConnections) -> Any:
        """The values of ``params`` in the form and order the statement's driver call takes them."""
        if self.libpq_sql is not None and connections.libpq:
            return tuple(params[name] for name in self.libpq_positions)
        if (positions := self.positions) is not None:
            return tuple(params[name] for name in positions)
        return params

    def process(self, row: Sequence[Any]) -> tuple:
        return tuple(
            value if process is None else process(value) for process, value in zip(self.processors, row, strict=True)
        )


class _Disconnected(Exception):
    pass


class _PreparedOnConnection:
    """One psycopg connection's statements prepared for libpq's ``exec_prepared`` (module docstring), and the
    psycopg ``Transformer`` that dumps their parameters and loads their rows as a cursor on it would."""

    __slots__ = ("connection", "names", "transformer")

    def __init__(self, connection) -> None:
        from psycopg.adapt import Transformer

        self.connection = connection
        self.transformer = Transformer(connection)
        self.names: dict[bytes, bytes] = {}

    def rows(self, sql: bytes, arguments: tuple) -> list[tuple]:
        from psycopg import errors, pq
        from psycopg.adapt import PyFormat

        pgconn = self.connection.pgconn
        name = self.names.get(sql)
        if name is None:
            name = f"authserver_read_{len(self.names)}".encode()
            _check(pgconn.prepare(name, sql), pq.ExecStatus.COMMAND_OK, self.connection, errors)
            self.names[sql] = name
        transformer = self.transformer
        values = transformer.dump_sequence(arguments, [PyFormat.TEXT] * len(arguments))
        result = pgconn.exec_prepared(name, values)
        _check(result, pq.ExecStatus.TUPLES_OK, self.connection, errors)
        transformer.set_pgresult(result)
        return transformer.load_rows(0, result.ntuples, tuple)


def _check(result, expected, connection, errors) -> None:
    if result.status != expected:
        raise errors.error_from_result(result, encoding=connection.info.encoding)


def _fetch_first(
    connections: ReadConnections, compiled: CompiledRead, arguments, make: Callable, wait: WaitHook, *, retried=False
):
    engine = connections.engine
    dialect = engine.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    sql = compiled.sql
    connection = None
    kept: dict[tuple, Any] | None = None
    found = _MISSING
    try:
        # A network round trip: the next request's Python work goes on meanwhile. SQLite's read is in-process and
        # shorter than the hand-over (measured: stepping out raised its p99 from 4.7 to 6.3 ms).
        with wait if connections.remote else NOT_GATED:
            connection = connections.acquire()
            if compiled.libpq_sql is not None and connections.libpq:
                rows = connections.prepared_on(connection).rows(compiled.libpq_sql, arguments)
            else:
                cursor = connection.cursor()
                try:
                    if not connections.remote:
                        # Asked before the read: a commit between the two changes it, and the row is not served
                        # again.
                        cursor.execute("PRAGMA data_version")
                        kept = connections.kept_rows(connection, cursor.fetchone()[0])
                        found = kept.get((sql, arguments), _MISSING)
                    if found is _MISSING:
                        cursor.execute(sql, arguments)
                        rows = cursor.fetchall()  # a few rows at most; reading them all ends the statement
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
    if found is not _MISSING:
        return found
    if not rows:
        return None
    made = make(compiled.process(rows[0]))
    if kept is not None and len(kept) < KEPT_ROWS:
        kept[(sql, arguments)] = made
    return made
