"""shared limit counters

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Brute-force limits (failed sign-ins, password checks) and request budgets shared by every worker and
    # instance without Redis: one row per limit key, changed by compare-and-set on version.
    op.create_table(
        "limit_counters",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_limit_counters")),
    )
    with op.batch_alter_table("limit_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_limit_counters_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("limit_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limit_counters_expires_at"))

    op.drop_table("limit_counters")
