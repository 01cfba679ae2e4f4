"""Token activity: uses are buffered in memory and written in batches (per-day counts, last used at and by)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import SQLAlchemyError

from authserver import activity
from authserver.activity import ActivityBuffer, Flusher, batch_statements, usage_by_day
from authserver.extensions import db
from authserver.models import AccessToken, TokenUsageDaily
from tests.factories import make_account, make_integration


@pytest.fixture
def jti(app, clock, lifecycle):
    return lifecycle.generate(make_integration(clock, make_account(clock).id).id).record.jti


def counts(jti):
    return {row.day: row.count for row in db.session.scalars(select(TokenUsageDaily).where(TokenUsageDaily.jti == jti))}


def last_use(jti):
    db.session.expire_all()
    row = db.session.get(AccessToken, jti)
    return row.last_used_at, row.last_used_by


def test_recording_writes_nothing_until_a_flush(jti, clock):
    buffer = ActivityBuffer()
    buffer.record(jti, "cli_rs", clock.now())
    assert counts(jti) == {} and last_use(jti) == (None, None)
    assert len(buffer) == 1


def test_a_flush_writes_per_day_counts_and_last_used_at_and_by(jti, clock):
    buffer = ActivityBuffer()
    today = clock.now().date()
    for _ in range(3):
        buffer.record(jti, "cli_contacts", clock.now())
    clock.advance(86400)
    buffer.record(jti, "cli_calendars", clock.now())
    assert activity.flush(buffer) == 1
    assert counts(jti) == {today: 3, today + timedelta(days=1): 1}
    assert last_use(jti) == (clock.now(), "cli_calendars")
    assert len(buffer) == 0


def test_flushes_add_up_and_last_use_never_moves_back(jti, clock):
    buffer = ActivityBuffer()
    buffer.record(jti, "cli_new", clock.now(), count=5)
    activity.flush(buffer)
    buffer.record(jti, "cli_old", clock.now() - timedelta(hours=1), count=2)  # a late report of an older use
    activity.flush(buffer)
    assert counts(jti) == {clock.now().date(): 7}
    assert last_use(jti) == (clock.now(), "cli_new")


def test_uses_of_unknown_tokens_are_dropped_not_failed(jti, clock):
    buffer = ActivityBuffer()
    buffer.record("tok_unknown", "cli_rs", clock.now())
    buffer.record(jti, "cli_rs", clock.now())
    assert activity.flush(buffer) == 2
    assert counts(jti) == {clock.now().date(): 1}
    assert db.session.scalar(select(db.func.count()).select_from(TokenUsageDaily)) == 1


@pytest.fixture
def usage_table_away(app):
    """Make the usage table unreachable for real (renamed), then put it back."""

    def away():
        db.session.execute(text("ALTER TABLE token_usage_daily RENAME TO token_usage_daily_away"))
        db.session.commit()

    def back():
        db.session.rollback()
        db.session.execute(text("ALTER TABLE token_usage_daily_away RENAME TO token_usage_daily"))
        db.session.commit()

    yield away, back


def test_a_failed_flush_keeps_the_counts_for_the_next_one(jti, clock, usage_table_away):
    away, back = usage_table_away
    buffer = ActivityBuffer()
    buffer.record(jti, "cli_rs", clock.now(), count=4)
    away()
    try:
        with pytest.raises(SQLAlchemyError):
            activity.flush(buffer)
        assert len(buffer) == 1
        buffer.record(jti, "cli_rs", clock.now())  # uses keep arriving while the database is away
    finally:
        back()
    assert activity.flush(buffer) == 1
    assert counts(jti) == {clock.now().date(): 5}
    assert last_use(jti) == (clock.now(), "cli_rs")


def test_the_flusher_survives_a_failed_flush_and_writes_later(app, jti, clock, usage_table_away, caplog):
    away, back = usage_table_away
    buffer = ActivityBuffer()
    flusher = Flusher(app, buffer, interval=3600)
    buffer.record(jti, "cli_rs", clock.now(), count=2)
    away()
    try:
        assert flusher.flush_once() == 0
    finally:
        back()
    assert "activity flush failed" in caplog.text
    assert flusher.flush_once() == 1
    assert counts(jti) == {clock.now().date(): 2}


def test_stopping_the_flusher_writes_what_is_buffered(app, jti, clock):
    buffer = ActivityBuffer()
    flusher = Flusher(app, buffer, interval=3600)
    flusher.start()
    buffer.record(jti, "cli_rs", clock.now())
    flusher.stop()
    assert counts(jti) == {clock.now().date(): 1}


def test_usage_by_day_is_zero_filled_and_sums_tokens(app, clock, lifecycle):
    integration = make_integration(clock, make_account(clock).id)
    first = lifecycle.generate(integration.id).record.jti
    second = lifecycle.rotate_now(integration.id).record.jti
    buffer = ActivityBuffer()
    day0 = clock.now().date()
    buffer.record(first, "a", clock.now(), count=2)
    buffer.record(second, "a", clock.now(), count=3)
    buffer.record(second, "a", clock.now() + timedelta(days=2))
    activity.flush(buffer)
    usage = usage_by_day([first, second], since=day0 - timedelta(days=1), until=day0 + timedelta(days=3))
    assert list(usage.values()) == [0, 5, 0, 1, 0]
    assert list(usage) == [day0 + timedelta(days=n) for n in range(-1, 4)]
    assert usage_by_day([], since=date(2026, 1, 1), until=date(2026, 1, 2)) == {
        date(2026, 1, 1): 0,
        date(2026, 1, 2): 0,
    }


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of 2 rows, so that a flush of a few tokens crosses several (production: batch_statements.SLICE)."""
    monkeypatch.setattr(batch_statements, "SLICE", 2)
    return 2


@pytest.fixture
def driver_calls(app):
    """(SQL text, number of rows) of every statement the engine sends while the test runs."""
    calls: list[tuple[str, int]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        calls.append((statement, len(parameters) if executemany else 1))

    event.listen(db.engine, "before_cursor_execute", record)
    yield calls
    event.remove(db.engine, "before_cursor_execute", record)


def test_a_flush_across_several_slices_writes_every_tokens_uses(app, clock, lifecycle, small_slices, driver_calls):
    integration = make_integration(clock, make_account(clock).id)
    jtis = [lifecycle.generate(integration.id).record.jti]
    jtis += [lifecycle.rotate_now(integration.id).record.jti for _ in range(4)]
    buffer = ActivityBuffer()
    for number, jti in enumerate(jtis, start=1):
        buffer.record(jti, f"cli_{number}", clock.now() - timedelta(days=1), count=number)
        buffer.record(jti, f"cli_{number}", clock.now() + timedelta(microseconds=number))
    driver_calls.clear()
    assert activity.flush(buffer) == 5
    writes = [rows for text, rows in driver_calls if text.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    # 10 (token, day) rows, then 5 last uses, handed to the driver 2 at a time: the Python a flush runs between two
    # driver calls is bounded by the slice, whatever the batch's size.
    assert writes == [2, 2, 2, 2, 2, 2, 2, 1]
    for number, jti in enumerate(jtis, start=1):
        assert counts(jti) == {clock.now().date() - timedelta(days=1): number, clock.now().date(): 1}
        assert last_use(jti) == (clock.now() + timedelta(microseconds=number), f"cli_{number}")


@pytest.mark.parametrize("last_used_by", ["cli_rs", None])
def test_a_batch_statement_sends_what_a_core_execution_sends(jti, clock, driver_params, last_used_by):
    """The same SQL text and values, converted by the columns' own processors (SQLite: text timestamps and dates)."""
    from authserver.activity.usage import _TOUCH_TOKEN, _touch_token, _upsert_count

    at = clock.now().replace(microsecond=123456)
    touch = {"b_jti": jti, "b_at": at, "b_by": last_used_by}
    count = {"b_jti": jti, "b_day": at.date(), "b_count": 3}
    dialect = db.engine.dialect
    for statement, batch, row in [
        (_TOUCH_TOKEN, _touch_token(dialect), touch),
        (_upsert_count(dialect.name), activity.usage._count_uses(dialect), count),
    ]:
        driver_params.clear()
        db.session.connection().execute(statement, row)
        db.session.rollback()
        assert driver_params == [(batch.sql, batch.bind(row))]


@pytest.fixture
def driver_params(app):
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)
