"""resource services' ping URLs

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-14 10:00:00

``api_clients.ping_url``: where a resource service answers ``GET`` with who a bearer token speaks for, so an
admin can test a token they just handed out from the integration's page (Check access). NULL for every existing
client: nothing to call.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("ping_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("ping_url")
