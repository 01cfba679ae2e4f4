"""Token activity: uses are buffered in memory and written in batches (per-day counts, last used at and by)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import and_, bindparam, case, event, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from authserver import activity
from authserver.activity import ActivityBuffer, Flusher, PendingUse, usage_by_day, write_usage
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


def make_token_rows(clock, count, prefix="tok_many"):
    """``count`` token rows of one integration, inserted directly (signing thousands of JWTs would take minutes)."""
    integration = make_integration(clock, make_account(clock).id)
    jtis = [f"{prefix}_{number:05d}" for number in range(count)]
    row = {"integration_id": integration.id, "account_id": integration.account_id, "kid": "k", "scopes": "contacts"}
    row |= {"issued_at": clock.now(), "expires_at": clock.now() + timedelta(days=1)}
    db.session.execute(insert(AccessToken), [{"jti": jti, **row} for jti in jtis])
    db.session.commit()
    return jtis


@pytest.fixture
def driver_calls(app):
    """(SQL text, executemany) of every statement the engine sends while the test runs."""
    calls: list[tuple[str, bool]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        calls.append((statement, executemany))

    event.listen(db.engine, "before_cursor_execute", record)
    yield calls
    event.remove(db.engine, "before_cursor_execute", record)


def test_a_flush_of_thousands_of_tokens_is_one_statement_per_write(app, clock, driver_calls):
    jtis = make_token_rows(clock, 3000)
    buffer = ActivityBuffer()
    for number, jti in enumerate(jtis):
        buffer.record(jti, f"cli_{number % 7}", clock.now() - timedelta(days=1), count=number % 5 + 1)
        buffer.record(jti, f"cli_{number % 3}", clock.now() + timedelta(microseconds=number))
    buffer.record("tok_unknown", "cli_rs", clock.now())
    driver_calls.clear()
    assert activity.flush(buffer) == 3001
    # The driver runs each write once for the whole batch (the GIL let go once per write, not once per row), and
    # nothing else: which tokens still have a row is asked inside the writes.
    assert [(sql.split()[0], many) for sql, many in driver_calls] == [("INSERT", False), ("UPDATE", False)]
    yesterday, today = clock.now().date() - timedelta(days=1), clock.now().date()
    stored = db.session.execute(select(TokenUsageDaily.jti, TokenUsageDaily.day, TokenUsageDaily.count)).all()
    assert sorted(stored) == sorted(
        [(jti, yesterday, number % 5 + 1) for number, jti in enumerate(jtis)] + [(jti, today, 1) for jti in jtis]
    )
    db.session.expire_all()
    uses = db.session.execute(select(AccessToken.jti, AccessToken.last_used_at, AccessToken.last_used_by)).all()
    assert sorted(uses) == [
        (jti, clock.now() + timedelta(microseconds=number), f"cli_{number % 3}") for number, jti in enumerate(jtis)
    ]


def test_last_use_never_moves_back_within_one_batch_of_many_tokens(app, clock):
    """Per token in the same statement: a later stored use stays (time and client), an earlier one moves forward,
    an equal one takes the batch's client, a token never used gets its first."""
    later, earlier, equal, never = make_token_rows(clock, 4)
    now = clock.now().replace(microsecond=500)
    first = ActivityBuffer()
    first.record(later, "cli_later", now + timedelta(seconds=1))
    first.record(earlier, "cli_earlier", now - timedelta(seconds=1))
    first.record(equal, "cli_equal", now)
    activity.flush(first)
    batch = ActivityBuffer()
    for jti in (later, earlier, equal, never):
        batch.record(jti, "cli_batch", now)
    activity.flush(batch)
    assert last_use(later) == (now + timedelta(seconds=1), "cli_later")
    assert last_use(earlier) == (now, "cli_batch")
    assert last_use(equal) == (now, "cli_batch")
    assert last_use(never) == (now, "cli_batch")


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
def test_a_use_time_round_trips_exactly_whatever_its_zone_and_the_sessions(app, jti, clock, zone):
    """The microsecond, the instant (stored as naive UTC, as every UTCDateTime column) and, on PostgreSQL, whatever
    the session's TimeZone is: the columns are ``timestamp without time zone``."""
    used_at = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC).astimezone(zone)
    if db.engine.dialect.name == "postgresql":
        # 01:30 on that night does not exist in London (01:00 -> 02:00): read in the session's zone, it would move.
        db.session.execute(text("SET TIME ZONE 'Europe/London'"))
    buffer = ActivityBuffer()
    buffer.record(jti, "cli_rs", used_at)
    write_usage(buffer.take())
    assert last_use(jti) == (used_at, "cli_rs")
    assert last_use(jti)[0].tzinfo == UTC
    stored = db.session.execute(text("SELECT last_used_at FROM access_tokens WHERE jti = :jti"), {"jti": jti}).scalar()
    expected = "2026-03-29 01:30:15.123456"
    assert (stored if isinstance(stored, str) else stored.isoformat(sep=" ")) == expected
    assert counts(jti) == {date(2026, 3, 29) if zone == UTC else used_at.date(): 1}


# The statements the flush ran row by row before batch_writes (commit 22ce6bd): the reference of the parity test.
_USED_AT = bindparam("b_at", type_=AccessToken.last_used_at.type)
_ROW_TOUCH = (
    update(AccessToken)
    .where(AccessToken.jti == bindparam("b_jti"))
    .values(
        last_used_by=case(
            (
                and_(AccessToken.last_used_at.is_not(None), AccessToken.last_used_at > _USED_AT),
                AccessToken.last_used_by,
            ),
            else_=bindparam("b_by", type_=AccessToken.last_used_by.type),
        ),
        last_used_at=func.coalesce(
            case((AccessToken.last_used_at > _USED_AT, AccessToken.last_used_at), else_=_USED_AT), _USED_AT
        ),
    )
)


def _row_count_upsert(dialect_name):
    insert_ = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = insert_(TokenUsageDaily).values(
        jti=bindparam("b_jti", type_=TokenUsageDaily.jti.type),
        day=bindparam("b_day", type_=TokenUsageDaily.day.type),
        count=bindparam("b_count", type_=TokenUsageDaily.count.type),
    )
    return statement.on_conflict_do_update(
        index_elements=["jti", "day"], set_={"count": TokenUsageDaily.count + statement.excluded.count}
    )


def write_usage_row_by_row(pending):
    known = set(db.session.scalars(select(AccessToken.jti).where(AccessToken.jti.in_(list(pending)))))
    connection = db.session.connection()
    upsert = _row_count_upsert(db.engine.dialect.name)
    for jti, entry in pending.items():
        if jti in known:
            for day, count in entry.per_day.items():
                if count:
                    connection.execute(upsert, {"b_jti": jti, "b_day": day, "b_count": count})
    for jti, entry in pending.items():
        if jti in known:
            connection.execute(_ROW_TOUCH, {"b_jti": jti, "b_at": entry.last_used_at, "b_by": entry.last_used_by})
    db.session.commit()


def test_the_batch_writes_end_where_the_row_by_row_statements_end(app, clock):
    """Random batches (forward, late and equal uses, clients or none, several days, unknown tokens) written by both,
    each on its own copy of the tokens: the same last uses and daily counts."""
    size = 300
    batch_side = make_token_rows(clock, size, prefix="tok_batch")
    row_side = make_token_rows(clock, size, prefix="tok_row")
    rng = random.Random(19)
    instants = [
        clock.now() + timedelta(hours=hours, microseconds=micro) for hours in (-30, -1, 0, 2, 26) for micro in (0, 1)
    ]
    for _ in range(6):
        by_batch, by_row = {}, {}
        for index in rng.sample(range(size + 20), 200):  # indexes past ``size``: tokens without a row
            at = rng.choice(instants)  # few distinct instants: equal uses (by another client) are common
            per_day = {at.date(): rng.randrange(1, 5), (at - timedelta(days=1)).date(): rng.randrange(0, 3)}
            by = rng.choice(["cli_a", "cli_b", None])
            for pending, side, prefix in ((by_batch, batch_side, "tok_batch"), (by_row, row_side, "tok_row")):
                jti = side[index] if index < size else f"{prefix}_unknown_{index}"
                pending[jti] = PendingUse(at, by, dict(per_day))
        write_usage(by_batch)
        write_usage_row_by_row(by_row)

    def end_state(prefix):
        db.session.expire_all()
        tokens = db.session.execute(
            select(AccessToken.jti, AccessToken.last_used_at, AccessToken.last_used_by).where(
                AccessToken.jti.startswith(prefix)
            )
        )
        days = db.session.execute(
            select(TokenUsageDaily.jti, TokenUsageDaily.day, TokenUsageDaily.count).where(
                TokenUsageDaily.jti.startswith(prefix)
            )
        )
        strip = len(prefix)
        return sorted((jti[strip:], *rest) for jti, *rest in tokens), sorted(
            (jti[strip:], *rest) for jti, *rest in days
        )

    batch_state, row_state = end_state("tok_batch"), end_state("tok_row")
    assert batch_state == row_state
    assert sum(1 for _, at, _ in batch_state[0] if at is not None) > size // 2  # most tokens were used
