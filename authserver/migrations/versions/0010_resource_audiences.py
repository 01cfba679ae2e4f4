"""resource audiences (RFC 8707)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:50:00

``integrations.resources``: the resource URIs an integration's tokens are limited to (space-separated, sorted; NULL
for every existing integration: unrestricted, today's audience). ``api_clients.resource``: a resource service's own
resource URI (NULL: a service with none sees only unrestricted tokens).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("resources", sa.Text(), nullable=True))
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("resource", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("resource")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("resources")
