"""Two prepared reads in one round trip, on PostgreSQL through libpq: the SELECTs of two ``PreparedRead``s, each
limited to its first row and marked present, joined ``FULL OUTER ... ON true`` into one statement. It answers one
row holding both rows side by side (either side all NULL, its marker too, when it found nothing), or no row when
neither found anything. Each side's columns are processed and made exactly as its own ``first`` would.

An introspection reads the client's row and then the token's state, one round trip each, one after the other; on a
remote database each trip is most of a request's latency. Read ahead together, the rows are handed to those two
``first`` calls of the same request (``prepared_reads.serving_prefetched``), so the second trip is not made.

Other databases and drivers get no paired read (``rows_of`` answers None): SQLite's reads are in process, and its
kept rows already serve both.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import literal_column, select, true
from sqlalchemy.engine import Engine

from .fair_gate import NOT_GATED, WaitHook
from .prepared_reads import CompiledRead, PreparedRead, compile_read, read_connections, read_first

PRESENT = "authserver_present"


class PairedRead:
    """``rows_of(engine, first_params, second_params)``: the prefetched rows of both reads, keyed as
    ``PreparedRead.first`` looks them up (statement compiled for the engine, arguments), or None where there is
    no paired read (not psycopg)."""

    def __init__(self, first: PreparedRead, second: PreparedRead) -> None:
        first_names = set(first.statement.compile().params)
        second_names = set(second.statement.compile().params)
        if first_names & second_names:
            raise ValueError(f"the two reads share parameter names: {first_names & second_names}")
        self.first, self.second = first, second
        width = len(first.statement.selected_columns) + 1
        self._split = width
        sides = [
            read.statement.add_columns(true().label(PRESENT)).limit(literal_column("1")).subquery(name)
            for read, name in ((first, "first_read"), (second, "second_read"))
        ]
        self.statement = select(*sides[0].c, *sides[1].c).select_from(sides[0].outerjoin(sides[1], true(), full=True))
        self._compiled: weakref.WeakKeyDictionary[Engine, CompiledRead | None] = weakref.WeakKeyDictionary()

    def _for(self, engine: Engine) -> CompiledRead | None:
        try:
            return self._compiled[engine]
        except KeyError:
            found = None
            if engine.dialect.driver == "psycopg":
                found = compile_read(self.statement, engine)
                found.processors = [None] * len(found.processors)  # each side's own, on that side only (make)
            self._compiled[engine] = found
            return found

    def serves(self, engine: Engine) -> bool:
        """Whether ``rows_of`` can read ahead on ``engine`` (psycopg through libpq)."""
        return self._for(engine) is not None and read_connections(engine).libpq

    def rows_of(
        self, engine: Engine, first_params: dict[str, Any], second_params: dict[str, Any], wait: WaitHook = NOT_GATED
    ) -> dict[tuple, Any] | None:
        compiled = self._for(engine)
        connections = read_connections(engine)
        if compiled is None or not connections.libpq:
            return None
        first, second = self.first.compiled_for(engine), self.second.compiled_for(engine)
        split, make_first, make_second = self._split, self.first.make, self.second.make

        def make(row: tuple) -> tuple[Any, Any]:
            head, tail = row[:split], row[split:]
            return (
                make_first(first.process(head[:-1])) if head[-1] else None,
                make_second(second.process(tail[:-1])) if tail[-1] else None,
            )

        arguments = compiled.arguments({**first_params, **second_params}, connections)
        both = read_first(connections, compiled, arguments, make, wait)
        made_first, made_second = (None, None) if both is None else both
        return {
            (first, first.arguments(first_params, connections)): made_first,
            (second, second.arguments(second_params, connections)): made_second,
        }
