"""conversations.door_identity_id and ticket_messages.app_name: 留言 through the mini program's customer
service as well as the official account (the door a message came through, where replies go); phone_quotas:
the mini programs' paid phone-number quota; event_codes: mini-program codes for events

Revision ID: a7b1c2d3e4f5
Revises: e2a1b2c3d4e5
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "a7b1c2d3e4f5"
down_revision = "e2a1b2c3d4e5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("door_identity_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_conversations_door_identity_id_identities",
            "identities",
            ["door_identity_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("ticket_messages") as batch:
        batch.add_column(sa.Column("app_name", sa.String(length=32), nullable=True))
    op.create_table(
        "phone_quotas",
        sa.Column("app_name", sa.String(length=32), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("used", sa.Integer(), nullable=True),
        sa.Column("successes_since_check", sa.Integer(), server_default="0", nullable=False),
        sa.Column("successes_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("exhausted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("app_name", name=op.f("pk_phone_quotas")),
    )
    op.create_table(
        "event_codes",
        sa.Column("scene", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("app_name", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("page", sa.String(length=128), nullable=False),
        sa.Column("image", sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql"), nullable=False),
        sa.Column("scans", sa.Integer(), server_default="0", nullable=False),
        sa.Column("signups", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_codes_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scene", name=op.f("pk_event_codes")),
    )
    op.create_index(op.f("ix_event_codes_event_id"), "event_codes", ["event_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_event_codes_event_id"), table_name="event_codes")
    op.drop_table("event_codes")
    op.drop_table("phone_quotas")
    with op.batch_alter_table("ticket_messages") as batch:
        batch.drop_column("app_name")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("fk_conversations_door_identity_id_identities", type_="foreignkey")
        batch.drop_column("door_identity_id")
