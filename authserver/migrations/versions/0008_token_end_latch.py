"""token end latch

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:50:00

Access tokens get ``ended_at``: when a reader first saw the token past its exp, scheduled end or idle deadline. Set
once, it keeps the token dead even if a clock later steps back. Existing tokens start unlatched (NULL): a token
already past its end is refused by the time check as before, and latched the next time it is presented.
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_column("ended_at")
