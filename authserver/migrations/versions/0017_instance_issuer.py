"""the issuer an instance's tokens name

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 01:30:00

``instance_settings``: values that belong to the instance, not to an account. The first is ``issuer``, recorded by
``authserver init`` or the first start, so a command or server started with another AUTHSERVER_ISSUER refuses to
mint tokens that every resource service would reject. Empty for an existing database: the next init, start or
minting command records the issuer it runs with.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_settings",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.String(length=2000), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("instance_settings")
