"""notifications.window_reserved (a reply took its window slot when queued) and ticket_messages.outcome
(only a reply WeChat took counts as a response)

Revision ID: f6b2c3d4e5f6
Revises: f6a1b2c3d4e5
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "f6b2c3d4e5f6"
down_revision = "f6a1b2c3d4e5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("window_reserved", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("ticket_messages") as batch:
        batch.add_column(sa.Column("outcome", sa.String(12), nullable=True))
        batch.create_index("ix_ticket_messages_outcome", ["outcome"])


def downgrade() -> None:
    with op.batch_alter_table("ticket_messages") as batch:
        batch.drop_index("ix_ticket_messages_outcome")
        batch.drop_column("outcome")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("window_reserved")
