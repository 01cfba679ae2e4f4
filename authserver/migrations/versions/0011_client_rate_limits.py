"""per-client rate limits

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00

``api_clients.introspection_limit``: a client's own introspection limit, "N/period" (e.g. ``100000/1m``) or
``off``; NULL for every existing client: the server's default (``AUTHSERVER_RATE_LIMIT_INTROSPECTION``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("introspection_limit", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("introspection_limit")
