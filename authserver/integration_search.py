"""Finding integrations: search, the list's status filters, sort and pages; and when each live token ends next.

The statuses (the list's filter and the API's ``status`` parameter):

    active          enabled, exactly one live token
    rotating        enabled, more than one live token (the replaced one is in its grace period)
    expiring_soon   a live token stops within EXPIRING_SOON (7 days): if unused (its idle deadline), at its
                    expiry (exp or a scheduled end), or when its grace period ends
    unused_30d      enabled, created over 30 days ago, and none of its tokens used in the last 30 days
    disabled        switched off by an admin (``Integration.status``): its tokens stop until it is enabled again

An enabled integration without a live token ("No live token") is in the unfiltered list only. Search, ``disabled``,
``unused_30d`` and the name, created and last-used orders are SQL; liveness is TokenState's answer, so the
live-token filters and the ``expires`` order are applied to the account's candidates in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select

from .accounts import get_account_for
from .errors import InvalidInputError
from .extensions import db
from .integrations import live_tokens, token_state
from .models import AccessToken, Integration
from .principals import Principal
from .tokens import TokenState

EXPIRING_SOON = timedelta(days=7)
UNUSED_FOR = timedelta(days=30)
STATUSES = ("active", "rotating", "expiring_soon", "unused_30d", "disabled")
SORTS = ("name", "created", "last_used", "expires")
MAX_SEARCH = 100
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
_LIVE_STATUSES = frozenset({"active", "rotating", "expiring_soon"})


# -- when a live token stops ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NextEnd:
    """The first moment a live token stops, and why: ``inactivity`` (if unused until then), ``expiry`` (its exp
    or a scheduled end) or ``grace`` (a replaced token's grace period ends)."""

    kind: str
    at: datetime


def next_end(state: TokenState, recent_use: datetime | None = None) -> NextEnd:
    ends: list[tuple[datetime, str]] = [(state.expires_at, "expiry")]
    if state.ends_at is not None:
        ends.append((state.ends_at, "grace" if state.replaced_by else "expiry"))
    idle = state.idle_deadline(recent_use)
    if idle is not None:
        ends.append((idle, "inactivity"))
    at, kind = min(ends, key=lambda end: end[0])
    return NextEnd(kind, at)


def is_expiring_soon(tokens: list[AccessToken], now: datetime) -> bool:
    return any(next_end(token_state(row)).at <= now + EXPIRING_SOON for row in tokens)


# -- the query ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntegrationQuery:
    search: str = ""
    status: str | None = None
    sort: str = "created"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def is_filtered(self) -> bool:
        return bool(self.search or self.status)


def parse_query(args: Mapping[str, str], *, per_page: int = DEFAULT_PER_PAGE) -> IntegrationQuery:
    """``q``, ``status``, ``sort``, ``page`` and ``per_page`` from a query string; a bad value names its field."""
    search = args.get("q", "").strip()
    if len(search) > MAX_SEARCH:
        raise InvalidInputError(f"the search text (q) must be at most {MAX_SEARCH} characters", field="q")
    status = args.get("status", "").strip() or None
    if status is not None and status not in STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}", field="status")
    sort = args.get("sort", "").strip() or "created"
    if sort not in SORTS:
        raise InvalidInputError(f"sort must be one of {', '.join(SORTS)}", field="sort")
    page = _whole(args.get("page"), "page", 1, 100_000, default=1)
    size = _whole(args.get("per_page"), "per_page", 1, MAX_PER_PAGE, default=per_page)
    return IntegrationQuery(search, status, sort, page, size)


def _whole(value: str | None, name: str, low: int, high: int, *, default: int) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 6) or not low <= int(value) <= high:
        raise InvalidInputError(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(value)


@dataclass(frozen=True)
class IntegrationPage:
    """One page of matches, each with its live tokens (current first)."""

    items: list[tuple[Integration, list[AccessToken]]]
    total: int
    query: IntegrationQuery
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pages", max(1, -(-self.total // self.query.per_page)))


def find_integrations(principal: Principal, account_id: str, query: IntegrationQuery, now: datetime) -> IntegrationPage:
    """The account's integrations (never deleted ones) matching ``query``, sorted, one page of them."""
    get_account_for(principal, account_id)
    statement = _filtered(account_id, query, now)
    offset = (query.page - 1) * query.per_page
    if query.status not in _LIVE_STATUSES and query.sort != "expires":
        total = db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        rows = db.session.scalars(statement.limit(query.per_page).offset(offset))
        return IntegrationPage([(row, live_tokens(row.id, now)) for row in rows], total, query)
    found = [(row, live_tokens(row.id, now)) for row in db.session.scalars(statement)]
    if query.status == "active":
        found = [item for item in found if len(item[1]) == 1]
    elif query.status == "rotating":
        found = [item for item in found if len(item[1]) > 1]
    elif query.status == "expiring_soon":
        found = [item for item in found if is_expiring_soon(item[1], now)]
    if query.sort == "expires":  # soonest first; no live token last (a stable sort keeps created order in ties)
        found.sort(key=lambda item: _first_end(item[1]) or datetime.max.replace(tzinfo=now.tzinfo))
    return IntegrationPage(found[offset : offset + query.per_page], len(found), query)


def _first_end(tokens: list[AccessToken]) -> datetime | None:
    return min((next_end(token_state(row)).at for row in tokens), default=None)


def _filtered(account_id: str, query: IntegrationQuery, now: datetime):
    statement = select(Integration).where(Integration.account_id == account_id, Integration.status != "deleted")
    if query.search:
        # contains(autoescape=True): "%" and "_" are letters here; SQLAlchemy escapes them with "/" on every backend.
        text = query.search.lower()
        statement = statement.where(
            or_(
                func.lower(Integration.name).contains(text, autoescape=True),
                func.lower(Integration.description).contains(text, autoescape=True),
                func.lower(Integration.id).contains(text, autoescape=True),
            )
        )
    if query.status == "disabled":
        statement = statement.where(Integration.status == "disabled")
    elif query.status is not None:
        statement = statement.where(Integration.status == "active")
    if query.status == "unused_30d":
        since = now - UNUSED_FOR
        used = exists().where(AccessToken.integration_id == Integration.id, AccessToken.last_used_at >= since)
        statement = statement.where(Integration.created_at <= since, ~used)
    if query.sort == "name":
        return statement.order_by(func.lower(Integration.name), Integration.id)
    if query.sort == "last_used":
        last_used = (
            select(func.max(AccessToken.last_used_at))
            .where(AccessToken.integration_id == Integration.id)
            .correlate(Integration)
            .scalar_subquery()
        )
        return statement.order_by(last_used.desc().nulls_last(), Integration.created_at.desc(), Integration.id)
    return statement.order_by(Integration.created_at.desc(), Integration.id)
