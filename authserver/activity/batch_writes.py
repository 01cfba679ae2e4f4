"""The flush's two writes, each ONE statement for the whole batch: the rows go to the database as one JSON parameter
and the database unpacks them (SQLite ``json_each``, PostgreSQL ``json_array_elements``).

Why (docs/performance-log.md, 2026-12-07 session 6): a worker serving a pool of 10,000 tokens flushes 2,000 to 4,000
tokens' uses every 2 s. Row by row, that is ~6,000 driver steps, and the driver lets go of the GIL and takes it back
around each one; on a busy machine a flusher preempted while holding the GIL stalls the worker's request threads.
Here the driver runs each write in one call, the GIL let go once for the whole of it, and the Python around it is
one ``json.dumps`` and one conversion per distinct timestamp.

The effect is the statements' it replaces: last use moves forward only (a later stored use keeps its time and its
client; an equal one takes the batch's client), daily counts add up, and uses of tokens without a row are dropped.
Values are converted by the columns' own bind processors (``UTCDateTime``: aware UTC to naive UTC; SQLite's text
formats), so SQLite compares the same text it always stored, and PostgreSQL casts the same naive UTC values to
``timestamp`` (the columns are ``timestamp without time zone``: a ``timestamptz`` cast would shift them by the
session's zone). Each statement's text is fixed per backend: one entry in the driver's statement cache.
SQLite needs 3.33 or later (``UPDATE ... FROM``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Dialect, TextClause, text
from sqlalchemy.types import TypeEngine

from ..models import AccessToken, TokenUsageDaily
from .buffer import PendingUse

# Rows are JSON arrays: [jti, last used at, last used by] and [jti, day, count].
_SQLITE_TOUCH = text("""
UPDATE access_tokens SET
  last_used_by = CASE WHEN access_tokens.last_used_at IS NOT NULL AND access_tokens.last_used_at > used.at
                      THEN access_tokens.last_used_by ELSE used.used_by END,
  last_used_at = coalesce(CASE WHEN access_tokens.last_used_at > used.at THEN access_tokens.last_used_at
                               ELSE used.at END, used.at)
FROM (SELECT json_extract(value, '$[0]') AS jti, json_extract(value, '$[1]') AS at,
             json_extract(value, '$[2]') AS used_by
      FROM json_each(:rows)) AS used
WHERE access_tokens.jti = used.jti
""")
_SQLITE_COUNT = text("""
INSERT INTO token_usage_daily (jti, day, count)
SELECT used.jti, used.day, used.count
FROM (SELECT json_extract(value, '$[0]') AS jti, json_extract(value, '$[1]') AS day,
             json_extract(value, '$[2]') AS count
      FROM json_each(:rows)) AS used
WHERE EXISTS (SELECT 1 FROM access_tokens WHERE access_tokens.jti = used.jti)
ON CONFLICT (jti, day) DO UPDATE SET count = token_usage_daily.count + excluded.count
""")  # the WHERE also keeps SQLite from reading ON CONFLICT as a join's ON (sqlite.org/lang_upsert.html)

_POSTGRESQL_TOUCH = text("""
UPDATE access_tokens SET
  last_used_by = CASE WHEN access_tokens.last_used_at IS NOT NULL AND access_tokens.last_used_at > used.at
                      THEN access_tokens.last_used_by ELSE used.used_by END,
  last_used_at = coalesce(CASE WHEN access_tokens.last_used_at > used.at THEN access_tokens.last_used_at
                               ELSE used.at END, used.at)
FROM (SELECT value ->> 0 AS jti, CAST(value ->> 1 AS timestamp) AS at, value ->> 2 AS used_by
      FROM json_array_elements(CAST(:rows AS json))) AS used
WHERE access_tokens.jti = used.jti
""")
_POSTGRESQL_COUNT = text("""
INSERT INTO token_usage_daily (jti, day, count)
SELECT used.jti, used.day, used.count
FROM (SELECT value ->> 0 AS jti, CAST(value ->> 1 AS date) AS day, CAST(value ->> 2 AS bigint) AS count
      FROM json_array_elements(CAST(:rows AS json))) AS used
WHERE EXISTS (SELECT 1 FROM access_tokens WHERE access_tokens.jti = used.jti)
ON CONFLICT (jti, day) DO UPDATE SET count = token_usage_daily.count + excluded.count
""")

_STATEMENTS: dict[str, tuple[TextClause, TextClause]] = {
    "sqlite": (_SQLITE_TOUCH, _SQLITE_COUNT),
    "postgresql": (_POSTGRESQL_TOUCH, _POSTGRESQL_COUNT),
}
SQLITE_MINIMUM = (3, 33, 0)

Converter = Callable[[Any], Any]


class BatchWrites:
    """The two writes for one kind of database, with the columns' value conversions; ``for_dialect`` makes one."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect.name not in _STATEMENTS:
            raise RuntimeError(f"activity flush: no batch statements for {dialect.name}")
        if dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_MINIMUM:
            raise RuntimeError(
                f"activity flush: needs SQLite 3.33+ (UPDATE ... FROM), this is {sqlite3.sqlite_version}"
            )
        self.touch_statement, self.count_statement = _STATEMENTS[dialect.name]
        self._used_at = _json_converter(AccessToken.last_used_at.type, dialect)
        self._day = _json_converter(TokenUsageDaily.day.type, dialect)

    def write(self, connection: Connection, pending: Mapping[str, PendingUse]) -> None:
        """Adds each token's counts to its days, then moves its last use forward (never back), in jti order:
        concurrent flushers on PostgreSQL then lock the rows they share in the same order."""
        used_at, day_of = _Converted(self._used_at), _Converted(self._day)
        counts: list[list[Any]] = []
        touches: list[list[Any]] = []
        for jti in sorted(pending):
            entry = pending[jti]
            for day, count in entry.per_day.items():
                if count:
                    counts.append([jti, day_of[day], count])
            touches.append([jti, used_at[entry.last_used_at], entry.last_used_by])
        _execute(connection, self.count_statement, counts)
        _execute(connection, self.touch_statement, touches)


def _execute(connection: Connection, statement: TextClause, rows: list[list[Any]]) -> None:
    if rows:
        connection.execute(statement, {"rows": json.dumps(rows, separators=(",", ":"))})


def _json_converter(type_: TypeEngine[Any], dialect: Dialect) -> Converter:
    """A value as the column's bind processor gives it to this driver, then as JSON can carry it: SQLite's processors
    give text already; PostgreSQL's give (naive UTC) datetimes and dates, written in ISO 8601 for the cast."""
    process = type_.dialect_impl(dialect).bind_processor(dialect)

    def convert(value: Any) -> Any:
        if value is not None and process is not None:
            value = process(value)
        if isinstance(value, datetime):
            if value.tzinfo is not None:  # UTCDateTime never gives one: a cast to timestamp would drop the zone
                raise ValueError("activity flush: an aware timestamp reached the JSON rows")
            return value.isoformat(sep=" ")
        if isinstance(value, date):
            return value.isoformat()
        return value

    return convert


class _Converted(dict[Any, Any]):
    """``convert`` once per distinct value in a batch (uses carry whole seconds: a flush sees a few distinct ones),
    then a plain dict lookup."""

    def __init__(self, convert: Converter) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self.convert(value)
        return converted


_BY_KIND: dict[tuple[str, str], BatchWrites] = {}


def for_dialect(dialect: Dialect) -> BatchWrites:
    """One ``BatchWrites`` per kind of database and driver (not per engine: tests make many)."""
    key = (dialect.name, dialect.driver)
    found = _BY_KIND.get(key)
    if found is None:
        found = _BY_KIND[key] = BatchWrites(dialect)
    return found
