"""agents.session_generation: console sessions of an older generation are void

Revision ID: b3c1d2e4f5a6
Revises: 6aedb35d191c
Create Date: 2026-11-28 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b3c1d2e4f5a6"
down_revision = "6aedb35d191c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("session_generation")
