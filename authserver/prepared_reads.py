"""Hot-path reads: a SELECT compiled once per engine and run on a pooled DBAPI connection, for the one query that
every introspection makes. Measured in ``bench/``: SQLAlchemy's per-execution bookkeeping (connection wrapper,
execution context, result object) cost several times the indexed read itself.

What stays the same as a Core execution: the pool (pre-ping, reset on return, invalidation on disconnect), the
column types' result processing, and errors, which are raised as SQLAlchemy's exceptions so that every surface
still fails closed with a 503. What is skipped: engine events and SQL echo, which nothing here uses.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError


class PreparedRead:
    """``first(engine, params)``: the first row of ``statement`` with its columns processed as SQLAlchemy would
    (e.g. SQLite's text timestamps become datetimes), or None."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: weakref.WeakKeyDictionary[Engine, tuple[str, Sequence[str] | None, list[Callable | None]]]
        self._compiled = weakref.WeakKeyDictionary()

    def _for(self, engine: Engine) -> tuple[str, Sequence[str] | None, list[Callable | None]]:
        found = self._compiled.get(engine)
        if found is None:
            dialect = engine.dialect
            compiled = self.statement.compile(dialect=dialect)
            processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                          for column in self.statement.selected_columns]
            found = self._compiled[engine] = (str(compiled), compiled.positiontup, processors)
        return found

    def first(self, engine: Engine, params: dict[str, Any]) -> tuple | None:
        sql, positions, processors = self._for(engine)
        arguments = tuple(params[name] for name in positions) if positions is not None else params
        dialect = engine.dialect
        dbapi_error = dialect.loaded_dbapi.Error
        connection = None
        try:
            connection = engine.raw_connection()
            cursor = connection.cursor()
            try:
                cursor.execute(sql, arguments)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except dbapi_error as exc:
            disconnected = dialect.is_disconnect(exc, connection.dbapi_connection if connection else None, None)
            if disconnected and connection is not None:
                connection.invalidate(exc)
            raise DBAPIError.instance(sql, arguments, exc, dbapi_error, hide_parameters=engine.hide_parameters,
                                      connection_invalidated=disconnected, dialect=dialect) from exc
        finally:
            if connection is not None:
                connection.close()  # back to the pool, which resets it (rollback) as it does for Core
        if row is None:
            return None
        return tuple(value if process is None else process(value) for process, value in zip(processors, row,
                                                                                           strict=True))
