"""notifications.lane (one recipient's rows go out one at a time, in order) and unsure_since (a send whose
outcome is unknown)

Revision ID: c3a1b2c4d5e6
Revises: d4a1b2c3d4e5
Create Date: 2026-12-02 18:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c3a1b2c4d5e6"
down_revision = "d4a1b2c3d4e5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("unsure_since", sa.DateTime(), nullable=True))
        batch.create_index("ix_notifications_lane", ["lane", "status"])
    # the rows not yet sent join their recipient's lane (the final ones never need one)
    op.execute(
        "UPDATE notifications SET lane = CASE WHEN identity_id IS NOT NULL"
        " THEN 'i' || CAST(identity_id AS CHAR) ELSE 'a' || CAST(account_id AS CHAR) END"
        " WHERE status IN ('pending', 'sending', 'held')"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE notifications SET lane = CONCAT(IF(identity_id IS NOT NULL, 'i', 'a'),"
        " COALESCE(identity_id, account_id)) WHERE status IN ('pending', 'sending', 'held')"
    )


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_lane")
        batch.drop_column("unsure_since")
        batch.drop_column("lane")
