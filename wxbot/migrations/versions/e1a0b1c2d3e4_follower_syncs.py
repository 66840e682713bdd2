"""follower_syncs: where `wxbot followers sync` stands per official account

Revision ID: e1a0b1c2d3e4
Revises: c3a1b2c4d5e6
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e1a0b1c2d3e4"
down_revision = "c3a1b2c4d5e6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follower_syncs",
        sa.Column("app_name", sa.String(length=32), nullable=False),
        sa.Column("after_identity_id", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("unionids", sa.Integer(), nullable=False),
        sa.Column("left", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["after_identity_id"], ["identities.id"], name=op.f("fk_follower_syncs_after_identity_id_identities"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("app_name", name=op.f("pk_follower_syncs")),
    )


def downgrade() -> None:
    op.drop_table("follower_syncs")
