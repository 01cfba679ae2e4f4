"""integrations bound to a DPoP key, and the binding each token was issued with

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 04:30:00

``integrations.dpop_jkt``: the RFC 7638 SHA-256 thumbprint of the public key its tokens are bound to (RFC 9449),
NULL when unbound. ``access_tokens.dpop_jkt``: the thumbprint signed into that token's ``cnf.jkt`` at issue, so
introspection can check the claim against the record and the pages can show tokens whose binding differs from
their integration's (a binding change applies to tokens generated afterwards). Both nullable: existing rows are
unbound, as they were.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(length=43), nullable=True))
    with op.batch_alter_table("access_tokens") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(length=43), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_tokens") as batch:
        batch.drop_column("dpop_jkt")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("dpop_jkt")
