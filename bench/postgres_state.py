"""What the local PostgreSQL server was doing around a measurement: its settings that bear on outliers, a settled
start (the world's bulk build written out before the first request), and the checkpoints that ran meanwhile.

Why: a throwaway world is built seconds before it is measured. Its bulk insert (999,000 filler rows: ~500 MB of
WAL) requests a checkpoint that PostgreSQL spreads over minutes (``checkpoint_completion_target``), i.e. over the
measurement, and an insert-only table that large is what autovacuum visits next. A production table grew over
months and was vacuumed along the way. So the harness vacuums and checkpoints what it built, then counts the
checkpoints each measurement overlapped, from ``pg_stat_bgwriter``, so an outlier can be laid beside them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from worlds import POSTGRES_ADMIN_URL, sqlalchemy_url

SETTINGS = ("checkpoint_timeout", "max_wal_size", "checkpoint_completion_target", "autovacuum", "synchronous_commit")


def _connect(database: str | None = None):
    import psycopg

    url = (
        POSTGRES_ADMIN_URL if database is None else sqlalchemy_url(database).replace("postgresql+psycopg", "postgresql")
    )
    return psycopg.connect(url, autocommit=True)


def server_settings() -> str:
    """One line: the server's version and the settings that decide when checkpoints and vacuums run."""
    with _connect() as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
        values = [f"{name} {connection.execute(f'SHOW {name}').fetchone()[0]}" for name in SETTINGS]
    return f"PostgreSQL {version}: " + ", ".join(values)


def settle(database: str) -> None:
    """VACUUM (ANALYZE) the freshly built ``database`` (autovacuum's work, which may be off on a shared test
    server), then CHECKPOINT, so its build's dirty pages are written now rather than during the measurement."""
    with _connect(database) as connection:
        connection.execute("VACUUM (ANALYZE)")
        connection.execute("CHECKPOINT")


@dataclass(frozen=True)
class Checkpoints:
    """Checkpoint activity between two readings of ``pg_stat_bgwriter``: checkpoints begun, buffers they wrote."""

    started: int
    buffers: int

    def __str__(self) -> str:
        return f"{self.started} checkpoint(s), {self.buffers} buffers" if self.started or self.buffers else "none"


class CheckpointWatch:
    """``with CheckpointWatch() as watch: ...`` then ``watch.seen``: the checkpoints the block overlapped (counted
    when begun; their buffers as PostgreSQL reports them, so a checkpoint still running at the end shows part)."""

    def __enter__(self) -> CheckpointWatch:
        self._before = _bgwriter()
        self.seen = Checkpoints(0, 0)
        return self

    def __exit__(self, *exc_info) -> None:
        after = _bgwriter()
        self.seen = Checkpoints(after[0] - self._before[0], after[1] - self._before[1])


def _bgwriter() -> tuple[int, int]:
    import psycopg

    with _connect() as connection:
        try:
            started, buffers = connection.execute(
                "SELECT checkpoints_timed + checkpoints_req, buffers_checkpoint FROM pg_stat_bgwriter"
            ).fetchone()
        except psycopg.errors.UndefinedColumn:  # PostgreSQL 17 moved them to pg_stat_checkpointer
            started, buffers = connection.execute(
                "SELECT num_timed + num_requested, buffers_written FROM pg_stat_checkpointer"
            ).fetchone()
    return int(started), int(buffers)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
