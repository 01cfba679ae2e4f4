"""What every table module shares: the model base class, and a datetime column that is always UTC, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Dialect, TypeDecorator

from ..extensions import db

if TYPE_CHECKING:
    # flask-sqlalchemy builds ``db.Model`` at run time, so type checkers see a variable, not a class
    # (flask-sqlalchemy#1186). For them, a declarative base with the same ``Model`` extras stands in.
    from flask_sqlalchemy.model import Model as _FlaskModel
    from sqlalchemy.orm import DeclarativeBase

    class Model(DeclarativeBase, _FlaskModel):
        """The type checker's view of ``db.Model``."""

else:
    Model = db.Model


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL gets the same values."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)
