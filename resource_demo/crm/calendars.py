"""Calendars of an account and the events in them; tenancy is checked on the calendar for every event call."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from ..errors import InvalidInputError, NotFoundError
from ..extensions import db
from ..models import Calendar, CalendarEvent, utcnow
from .paging import Page, fetch_page


def list_calendars(account_id: str, *, limit: int, after: int | None) -> Page:
    return fetch_page(select(Calendar).where(Calendar.account_id == account_id), Calendar.seq, limit=limit, after=after)


def get_calendar(account_id: str, calendar_id: str) -> Calendar:
    calendar = db.session.scalar(select(Calendar).where(Calendar.id == calendar_id, Calendar.account_id == account_id))
    if calendar is None:
        raise NotFoundError(f"no calendar {calendar_id[:40]!r}")
    return calendar


def create_calendar(account_id: str, values: dict) -> Calendar:
    calendar = Calendar(account_id=account_id, **values)
    db.session.add(calendar)
    db.session.commit()
    return calendar


def update_calendar(account_id: str, calendar_id: str, values: dict) -> Calendar:
    calendar = get_calendar(account_id, calendar_id)
    for name, value in values.items():
        setattr(calendar, name, value)
    calendar.updated_at = utcnow()
    db.session.commit()
    return calendar


def delete_calendar(account_id: str, calendar_id: str) -> None:
    calendar = get_calendar(account_id, calendar_id)
    db.session.execute(delete(CalendarEvent).where(CalendarEvent.calendar_id == calendar.id))
    db.session.delete(calendar)
    db.session.commit()


def list_events(account_id: str, calendar_id: str, *, limit: int, after: int | None) -> Page:
    calendar = get_calendar(account_id, calendar_id)
    query = select(CalendarEvent).where(
        CalendarEvent.calendar_id == calendar.id, CalendarEvent.account_id == account_id
    )
    return fetch_page(query, CalendarEvent.seq, limit=limit, after=after)


def get_event(account_id: str, calendar_id: str, event_id: str) -> CalendarEvent:
    calendar = get_calendar(account_id, calendar_id)
    event = db.session.scalar(
        select(CalendarEvent).where(
            CalendarEvent.id == event_id,
            CalendarEvent.calendar_id == calendar.id,
            CalendarEvent.account_id == account_id,
        )
    )
    if event is None:
        raise NotFoundError(f"no event {event_id[:40]!r} in this calendar")
    return event


def create_event(
    account_id: str, calendar_id: str, *, title: str, starts_at: datetime, ends_at: datetime
) -> CalendarEvent:
    calendar = get_calendar(account_id, calendar_id)
    if ends_at < starts_at:
        raise InvalidInputError("ends_at must not be before starts_at", field="ends_at")
    event = CalendarEvent(
        account_id=account_id, calendar_id=calendar.id, title=title, starts_at=starts_at, ends_at=ends_at
    )
    db.session.add(event)
    db.session.commit()
    return event


def delete_event(account_id: str, calendar_id: str, event_id: str) -> None:
    db.session.delete(get_event(account_id, calendar_id, event_id))
    db.session.commit()
