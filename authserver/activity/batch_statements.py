"""A write a flush runs for thousands of rows: compiled once per dialect, each row's values converted by the columns'
own bind processors, and the rows handed to the driver in slices.

Why (docs/performance-log.md, 2026-12-07 session 6): given a few thousand rows at once (a flush under a pool of
10,000 tokens), SQLAlchemy builds every row's parameters before the driver sees the first, ~40 µs of Python per
token in one stretch that holds the GIL. A request thread of the same worker that lets go of the GIL for a moment
(a SQLite step, the fair gate's hand-over, granian handing it a request) then waits the interpreter's switch
interval (5 ms) to get it back, each time, for as long as that stretch lasts. Here a row costs a few µs and the
driver gets ``SLICE`` rows at a time; it lets go of the GIL for every row it steps, so no stretch of the flush's
Python outlasts one slice (well under a millisecond).

What reaches the database is what a Core execution sends: the same compiled SQL text (one entry in the driver's
statement cache per statement), the same bind processors (e.g. SQLite's text timestamps, ``UTCDateTime``), in the
caller's transaction, through ``Connection.exec_driver_sql`` (SQLAlchemy's cursor events and error wrapping).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

SLICE = 100  # rows per driver call: a few hundred µs of Python to bind them
Parameters = tuple[Any, ...] | dict[str, Any]  # one row's, as the driver takes them


class BatchStatement:
    """``execute(connection, rows)`` runs ``statement`` once per row (a mapping of bind name to value)."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        # The driver's parameter order for a positional paramstyle (a name may repeat), None for a named one.
        self.positions: list[str] | None = compiled.positiontup
        self.processors: dict[str, Callable[[Any], Any] | None] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
        }

    def bind(self, row: Mapping[str, Any]) -> Parameters:
        """One row's parameters as the driver takes them, each value converted once however often it appears."""
        values: dict[str, Any] = {}
        for name, value in row.items():
            process = self.processors[name]
            values[name] = value if process is None else process(value)
        return tuple(values[name] for name in self.positions) if self.positions is not None else values

    def execute(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        batch: list[Parameters] = []
        for row in rows:
            batch.append(self.bind(row))
            if len(batch) == SLICE:
                connection.exec_driver_sql(self.sql, batch)
                batch = []
        if batch:
            connection.exec_driver_sql(self.sql, batch)
