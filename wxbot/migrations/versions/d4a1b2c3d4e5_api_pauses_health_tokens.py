"""api_pauses (a pause per app and WeChat API, replacing app_pauses), app_health, access_tokens

Revision ID: d4a1b2c3d4e5
Revises: c4d5e6f7a8b9
Create Date: 2026-12-02 18:20:00

A pause left in app_pauses is not carried over (it named no API): it ends at the next local midnight anyway,
and the next 45009 pauses the API it is about.
"""

import sqlalchemy as sa
from alembic import op

revision = "d4a1b2c3d4e5"
down_revision = "c4d5e6f7a8b9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_pauses",
        sa.Column("app_name", sa.String(length=32), nullable=False),
        sa.Column("api", sa.String(length=64), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("app_name", "api", name=op.f("pk_api_pauses")),
    )
    op.drop_table("app_pauses")
    op.create_table(
        "app_health",
        sa.Column("app_name", sa.String(length=32), nullable=False),
        sa.Column("token_failures", sa.Integer(), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("unhealthy_since", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("app_name", name=op.f("pk_app_health")),
    )
    op.create_table(
        "access_tokens",
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("stored", sa.String(length=640), nullable=True),
        sa.Column("refused", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("appid", name=op.f("pk_access_tokens")),
    )


def downgrade() -> None:
    op.drop_table("access_tokens")
    op.drop_table("app_health")
    op.create_table(
        "app_pauses",
        sa.Column("app_name", sa.String(length=32), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("app_name", name=op.f("pk_app_pauses")),
    )
    op.drop_table("api_pauses")
