"""The reply window's grants on the identity's row (the callback records a delivery's interaction and its
window in one statement); reply_windows dropped

Revision ID: b9a0c1d2e3f4
Revises: f6b2c3d4e5f6
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b9a0c1d2e3f4"
down_revision = "f6b2c3d4e5f6"
branch_labels = None
depends_on = None

KINDS = ("message", "action")


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        for kind in KINDS:
            batch.add_column(sa.Column(f"{kind}_window_expires_at", sa.DateTime(), nullable=True))
            batch.add_column(
                sa.Column(f"{kind}_window_remaining", sa.Integer(), server_default=sa.text("0"), nullable=False)
            )
    for kind in KINDS:
        grant = f"FROM reply_windows w WHERE w.identity_id = identities.id AND w.kind = '{kind}'"
        op.execute(
            f"UPDATE identities SET {kind}_window_expires_at = (SELECT w.expires_at {grant}),"
            f" {kind}_window_remaining = (SELECT w.remaining {grant})"
            f" WHERE id IN (SELECT identity_id FROM reply_windows WHERE kind = '{kind}')"
        )
    op.drop_table("reply_windows")


def downgrade() -> None:
    op.create_table(
        "reply_windows",
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_reply_windows_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("identity_id", "kind", name=op.f("pk_reply_windows")),
    )
    for kind in KINDS:
        # when the grant opened is not kept: its expiry stands in
        op.execute(
            f"INSERT INTO reply_windows (identity_id, kind, opened_at, expires_at, remaining)"
            f" SELECT id, '{kind}', {kind}_window_expires_at, {kind}_window_expires_at, {kind}_window_remaining"
            f" FROM identities WHERE {kind}_window_expires_at IS NOT NULL"
        )
    with op.batch_alter_table("identities") as batch:
        for kind in KINDS:
            batch.drop_column(f"{kind}_window_remaining")
            batch.drop_column(f"{kind}_window_expires_at")
