"""Keyset paging: a page of rows after an opaque cursor, in creation order, stable while rows are added."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select

from ..extensions import db


@dataclass(frozen=True)
class Page:
    items: list
    next_after: int | None  # the ``seq`` to continue after, or None on the last page


def fetch_page(query: Select, seq_column, *, limit: int, after: int | None) -> Page:
    if after is not None:
        query = query.where(seq_column > after)
    rows = list(db.session.scalars(query.order_by(seq_column).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_after=rows[-1].seq if more else None)
