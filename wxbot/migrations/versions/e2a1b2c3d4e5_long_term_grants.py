"""subscribe_grants.long_term: an accepted long-term 订阅通知 allows every send until it is withdrawn

Revision ID: e2a1b2c3d4e5
Revises: e1a0b1c2d3e4
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e2a1b2c3d4e5"
down_revision = "e1a0b1c2d3e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribe_grants") as batch:
        batch.add_column(sa.Column("long_term", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("subscribe_grants") as batch:
        batch.drop_column("long_term")
