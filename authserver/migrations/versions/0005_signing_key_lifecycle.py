"""signing key lifecycle

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 21:50:00

Keys get a signing start (``signs_from``: a key is published before it signs) and a revocation time; token events
may concern every account (``key.revoked``), so their account and integration become optional. Existing keys signed
from their creation: ``signs_from = created_at``.
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signs_from", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE signing_keys SET signs_from = created_at")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.alter_column("signs_from", existing_type=sa.DateTime(), nullable=False)

    with op.batch_alter_table("token_events", schema=None) as batch_op:
        batch_op.alter_column("account_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.alter_column("integration_id", existing_type=sa.String(length=40), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM token_events WHERE account_id IS NULL OR integration_id IS NULL")
    with op.batch_alter_table("token_events", schema=None) as batch_op:
        batch_op.alter_column("integration_id", existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column("account_id", existing_type=sa.String(length=40), nullable=False)

    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("signs_from")
