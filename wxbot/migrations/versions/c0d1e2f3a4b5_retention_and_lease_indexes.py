"""Indexes for what scanned whole tables at scale (bench/scale.py): the sender's lease renewal by claim token,
and the retention job's cutoffs (inbound messages, outbox rows, resolved conversations, unsubscribed followers)

Revision ID: c0d1e2f3a4b5
Revises: c8d9e0f1a2b3
Create Date: 2026-12-03 18:30:00
"""

from alembic import op

revision = "c0d1e2f3a4b5"
down_revision = "c8d9e0f1a2b3"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_notifications_claim_token": ("notifications", "claim_token"),
    "ix_notifications_created_at": ("notifications", "created_at"),
    "ix_inbound_messages_received_at": ("inbound_messages", "received_at"),
    "ix_conversations_resolved_at": ("conversations", "resolved_at"),
    "ix_identities_unsubscribed_at": ("identities", "unsubscribed_at"),
}


def upgrade() -> None:
    for name, (table, column) in INDEXES.items():
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, (table, _column) in INDEXES.items():
        op.drop_index(name, table_name=table)
