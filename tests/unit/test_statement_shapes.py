"""Batched reads ask the database with SQL texts that do not depend on the batch's length: the activity flush
(how many tokens were used) and the usage report's token states (how many uses a resource service reported).

A statement whose text changes with the batch size is compiled anew each flush and kept by the driver's statement
cache (sqlite3: 128 per connection); that was the soak's memory growth (docs/performance-log.md, 2026-12-07).
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from authserver import activity
from authserver.activity import ActivityBuffer
from authserver.extensions import db
from authserver.models import TokenUsageDaily
from authserver.tokens import STATES_CHUNK, load_states
from tests.factories import make_account, make_integration


@pytest.fixture
def jti(app, clock, lifecycle):
    return lifecycle.generate(make_integration(clock, make_account(clock).id).id).record.jti


@pytest.fixture
def statements(app):
    """The SQL text of every statement the engine runs while the test does."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def _flush_uses(jti: str, clock, unknown: int, tag: str) -> None:
    buffer = ActivityBuffer()
    for n in range(unknown):
        buffer.record(f"tok_{tag}_{n}", "cli_rs", clock.now())
    buffer.record(jti, "cli_rs", clock.now())
    assert activity.flush(buffer) == unknown + 1


def test_flushes_of_any_size_run_the_same_sql_texts(jti, clock, statements):
    for size, tag in [(0, "a"), (6, "b"), (217, "c"), (99, "d")]:
        _flush_uses(jti, clock, size, tag)
    texts = {s for s in statements if "access_tokens" in s or "token_usage_daily" in s}
    # the per-day upsert and the last-used UPDATE, each one statement with the batch as one JSON parameter
    # (activity/batch_writes.py): one text each, whatever the batch's size
    assert len(texts) == 2, texts


def test_a_use_among_many_unknown_tokens_is_counted_once(jti, clock):
    _flush_uses(jti, clock, 203, "e")  # the known token is the last of the batch
    assert db.session.scalars(select(TokenUsageDaily.count).where(TokenUsageDaily.jti == jti)).all() == [1]


def test_token_states_of_reports_of_any_length_run_one_sql_text(jti, statements):
    for length in (1, 9, STATES_CHUNK + 1, STATES_CHUNK * 2):
        jtis = [f"tok_missing_{length}_{n}" for n in range(length - 1)] + [jti]
        assert list(load_states(jtis)) == [jti]
    assert len({s for s in statements if "access_tokens" in s}) == 1


def test_token_states_of_an_empty_report_ask_nothing(app, statements):
    assert load_states([]) == {} and statements == []
