"""usage reports by scope and service

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:30:00

``token_usage_by_service``: each token's calls per day, per reporting resource service and per scope the calls
needed (``""``: a valid token was enough), from the usage reports of the ``authserver-resource`` package. Existing
counts stay in ``token_usage_daily``; this table starts empty.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_usage_by_service",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["jti"], ["access_tokens.jti"], name=op.f("fk_token_usage_by_service_jti_access_tokens")
        ),
        sa.PrimaryKeyConstraint("jti", "day", "service_id", "scope", name=op.f("pk_token_usage_by_service")),
    )


def downgrade() -> None:
    op.drop_table("token_usage_by_service")
