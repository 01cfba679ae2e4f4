"""Durations (``30s``, ``15m``, ``12h``, ``90d``, ``2w``) and instants as people type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authserver.durations import (
    MAX_SECONDS,
    check_seconds,
    format_duration,
    isoformat,
    parse_duration,
    parse_instant,
    seconds_after,
)
from authserver.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("12h", 43200),
        ("90d", 90 * 86400),
        ("2w", 14 * 86400),
        ("1s", 1),
        (" 7d ", 7 * 86400),
        ("18250d", 18250 * 86400),
        ("2600w", 2600 * 7 * 86400),
    ],
)
def test_parse_duration_reads_each_unit(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "0s",
        "-5m",
        "5",
        "m",
        "5x",
        "5 m",
        "5M",
        "1.5h",
        "05m",
        "1d2h",
        "P1D",
        "1e3s",
        "١٢h",
        "18251d",
        "2608w",
        "999999999w",
        None,
        30,
        3.5,
        ["1h"],
    ],
)
def test_parse_duration_refuses_anything_else_with_the_field_named(text):
    with pytest.raises(InvalidInputError) as caught:
        parse_duration(text, field="grace")
    assert caught.value.field == "grace"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30, "30s"),
        (60, "1m"),
        (90, "90s"),
        (3600, "1h"),
        (86400, "1d"),
        (7 * 86400, "1w"),
        (8 * 86400, "8d"),
    ],
)
def test_format_duration_uses_the_largest_exact_unit(seconds, text):
    assert format_duration(seconds) == text


@given(st.integers(min_value=1, max_value=MAX_SECONDS))
def test_format_then_parse_gives_back_the_same_seconds(seconds):
    text = format_duration(seconds)
    if int(text[:-1]) < 10**9:  # the parser's digit limit; larger counts of seconds are not typed by people
        assert parse_duration(text) == seconds


@given(st.integers(min_value=1, max_value=999_999_999), st.sampled_from("smhdw"))
def test_parse_duration_of_a_well_formed_value_is_count_times_unit_or_a_clear_refusal(count, unit):
    size = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    try:
        assert parse_duration(f"{count}{unit}") == count * size
    except InvalidInputError as error:
        assert count * size > MAX_SECONDS
        assert error.field == "duration"


@given(st.text(max_size=30))
def test_parse_duration_of_any_text_is_positive_seconds_or_invalid_input(text):
    try:
        seconds = parse_duration(text)
    except InvalidInputError:
        return
    assert 0 < seconds <= MAX_SECONDS


def test_the_longest_duration_fits_a_32_bit_database_integer_and_the_calendar():
    assert MAX_SECONDS < 2**31
    assert seconds_after(datetime(2026, 1, 1, tzinfo=UTC), MAX_SECONDS, field="in").year == 2075


@pytest.mark.parametrize("value", [0, -1, MAX_SECONDS + 1, 10**30, -(10**30), 1.5, 3600.0, True, "3600", None])
def test_check_seconds_refuses_anything_but_whole_seconds_in_range_naming_the_field(value):
    with pytest.raises(InvalidInputError) as caught:
        check_seconds(value, field="grace")
    assert caught.value.field == "grace"


def test_check_seconds_holds_a_minimum_of_its_own():
    assert check_seconds(3600, field="inactivity_window", minimum=3600) == 3600
    with pytest.raises(InvalidInputError, match="at least 1h"):
        check_seconds(3599, field="inactivity_window", minimum=3600)


@pytest.mark.parametrize("seconds", [MAX_SECONDS, 10**11])
def test_seconds_after_the_end_of_the_calendar_is_invalid_input_not_overflow(seconds):
    with pytest.raises(InvalidInputError) as caught:
        seconds_after(datetime(9990, 1, 1, tzinfo=UTC), seconds, field="in")
    assert caught.value.field == "in"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-01T10:00:00Z", datetime(2026, 2, 1, 10, tzinfo=UTC)),
        ("2026-02-01T10:00:00+02:00", datetime(2026, 2, 1, 8, tzinfo=UTC)),
        ("2026-02-01T10:00:00", datetime(2026, 2, 1, 10, tzinfo=UTC)),  # no zone: read as UTC
        ("2026-02-01T10:00:00.750Z", datetime(2026, 2, 1, 10, tzinfo=UTC)),  # whole seconds, like every clock here
        ("2026-02-01", datetime(2026, 2, 1, tzinfo=UTC)),
    ],
)
def test_parse_instant_reads_iso_8601_as_utc_seconds(text, expected):
    assert parse_instant(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "2026-13-01T00:00:00Z",
        "2026-02-30",
        "1h",
        "x" * 41,
        None,
        5,
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+05:00",  # out of range once read as UTC
    ],
)
def test_parse_instant_refuses_anything_else_with_the_field_named(text):
    with pytest.raises(InvalidInputError) as caught:
        parse_instant(text, field="grace_until")
    assert caught.value.field == "grace_until"


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
    )
)
def test_isoformat_then_parse_instant_is_the_same_moment_to_the_second(moment):
    assert parse_instant(isoformat(moment)) == moment.astimezone(UTC).replace(microsecond=0)


@given(st.text(max_size=45))
def test_parse_instant_of_any_text_is_an_aware_utc_moment_or_invalid_input(text):
    try:
        moment = parse_instant(text)
    except InvalidInputError:
        return
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0) and moment.microsecond == 0
