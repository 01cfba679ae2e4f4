"""Alembic environment: runs on the connection handed over by authserver.database (never reads alembic.ini)."""

from alembic import context

from authserver import models  # noqa: F401  (registers the tables)
from authserver.extensions import db

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `authserver db upgrade`")
context.configure(connection=connection, target_metadata=db.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
