"""resource services answered with signed introspection always

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 05:00:00

``api_clients.introspection_signing``: "always" when every introspection answer to the resource service is a JWT
signed by the server's key (RFC 9701 section 6, ``introspection_signed_response_alg``), whatever it accepts. NULL
for every existing client: signed only when it asks (``Accept: application/token-introspection+jwt``), as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("introspection_signing", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("introspection_signing")
