"""Calls per token, day, reporting service and scope needed: written from usage reports, read for least privilege.

A report already arrives batched (every few seconds per service process), so its rows are written in the request's
own unit of work with one upsert statement, not through the in-memory activity buffer: the buffer's job is to
spare introspection a write per call, and these counts never come from introspection.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import TokenUsageByService

NO_SCOPE = ""  # a call that needed a valid token and no particular scope


def record_calls(service_id: str, calls: list[tuple[str, datetime, dict[str, int]]]) -> None:
    """Add ``(jti, used_at, {scope: count})`` to the per-day counts of ``service_id``; the caller commits."""
    rows = [
        {"b_jti": jti, "b_day": used_at.date(), "b_service": service_id, "b_scope": scope, "b_count": count}
        for jti, used_at, scopes in calls
        for scope, count in scopes.items()
        if count
    ]
    if rows:
        db.session.connection().execute(_add_calls(db.engine.dialect.name), rows)


def scopes_exercised(jtis: list[str], *, since: date | None = None) -> set[str]:
    """The scopes any of these tokens' calls needed (on ``since`` or later), as reported by the services
    (least-privilege suggestions: a granted scope not in here was never exercised)."""
    if not jtis:
        return set()
    query = (
        select(TokenUsageByService.scope)
        .distinct()
        .where(TokenUsageByService.jti.in_(jtis), TokenUsageByService.scope != NO_SCOPE)
    )
    if since is not None:
        query = query.where(TokenUsageByService.day >= since)
    return set(db.session.scalars(query))


@dataclass(frozen=True)
class ServiceDay:
    """One service's reported calls on one day (UTC), with the scopes those calls needed."""

    day: date
    service_id: str
    calls: int
    scopes: dict[str, int]  # scope -> calls that needed it; "" (NO_SCOPE): a valid token was enough


def calls_by_day_and_service(jtis: list[str], *, since: date, until: date) -> list[ServiceDay]:
    """Reported API calls of these tokens per day and service over [since, until], oldest day first. Only usage
    reports count here: an introspection is a check a service makes, not a call the integration made."""
    if not jtis:
        return []
    rows = db.session.execute(
        select(
            TokenUsageByService.day,
            TokenUsageByService.service_id,
            TokenUsageByService.scope,
            func.sum(TokenUsageByService.count),
        )
        .where(TokenUsageByService.jti.in_(jtis), TokenUsageByService.day >= since, TokenUsageByService.day <= until)
        .group_by(TokenUsageByService.day, TokenUsageByService.service_id, TokenUsageByService.scope)
    )
    grouped: dict[tuple[date, str], dict[str, int]] = {}
    for day, service_id, scope, count in rows:
        grouped.setdefault((day, service_id), {})[scope] = int(count)
    return [
        ServiceDay(day, service_id, sum(scopes.values()), scopes)
        for (day, service_id), scopes in sorted(grouped.items())
    ]


def calls_by_service(jtis: list[str]) -> dict[str, int]:
    """Reported calls per service across these tokens."""
    if not jtis:
        return {}
    rows = db.session.execute(
        select(TokenUsageByService.service_id, TokenUsageByService.count).where(TokenUsageByService.jti.in_(jtis))
    )
    totals: dict[str, int] = {}
    for service_id, count in rows:
        totals[service_id] = totals.get(service_id, 0) + int(count)
    return totals


@functools.cache
def _add_calls(dialect: str) -> postgresql.Insert | sqlite.Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = TokenUsageByService
    statement = insert(table).values(
        jti=bindparam("b_jti", type_=table.jti.type),
        day=bindparam("b_day", type_=table.day.type),
        service_id=bindparam("b_service", type_=table.service_id.type),
        scope=bindparam("b_scope", type_=table.scope.type),
        count=bindparam("b_count", type_=table.count.type),
    )
    return statement.on_conflict_do_update(
        index_elements=["jti", "day", "service_id", "scope"], set_={"count": table.count + statement.excluded.count}
    )
