"""ticket_media: the bytes of conversation media in the database (every host serves what any host fetched),
moved from the files under the migrating host's `[app] var_dir`/media; ticket_messages.media_path dropped

A stored message whose file is not there (another host kept it, or it is gone) is marked failed with
media_error "missing": the thread says so in words and "Fetch again" asks WeChat anew, which works while
WeChat still keeps the file (3 days after the follower sent it). The files stay on disk; docs/operations.md
says how to gather them from several hosts first and when to delete them. Downgrade writes the bytes back
as files under the media directory given (none given: the messages are marked missing the same way).

Revision ID: c8d9e0f1a2b3
Revises: b9a0c1d2e3f4
Create Date: 2026-12-03 18:00:00
"""

import mimetypes
import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

revision = "c8d9e0f1a2b3"
down_revision = "b9a0c1d2e3f4"
branch_labels = None
depends_on = None

MEDIA_BYTES = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql")
MAX_MEDIA_BYTES = 2**24 - 1  # MEDIUMBLOB
PACKET_HEADROOM = 64 * 1024  # what one INSERT carries besides the file
MISSING = "missing"  # wxbot.conversations.media.MISSING
OPAQUE_TYPE = "application/octet-stream"

TICKET_MEDIA = sa.table(
    "ticket_media",
    sa.column("message_id", sa.Integer()),
    sa.column("content", MEDIA_BYTES),
    sa.column("size", sa.Integer()),
    sa.column("stored_at", sa.DateTime()),
)


def _media_dir() -> Path | None:
    """`[app] var_dir`/media of the host that migrates (wxbot.migrate); None: no files to read or write."""
    given = context.config.attributes.get("media_dir")
    return Path(given).resolve() if given else None


def _file(root: Path | None, relative: str | None) -> Path | None:
    """The readable file a message named, inside the media directory only."""
    if root is None or not relative:
        return None
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file() or not os.access(path, os.R_OK):
        return None
    return path


def _largest(conn: sa.Connection) -> int:
    """The largest file one INSERT may carry: PyMySQL sends bytes as hex, twice their size."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return MAX_MEDIA_BYTES
    packet = int(conn.execute(sa.text("SELECT @@max_allowed_packet")).scalar_one())
    return min(MAX_MEDIA_BYTES, (packet - PACKET_HEADROOM) // 2)


def _mark_missing(conn: sa.Connection, message_id: int) -> None:
    conn.execute(
        sa.text("UPDATE ticket_messages SET media_status = 'failed', media_error = :error WHERE id = :id"),
        {"error": MISSING, "id": message_id},
    )


def upgrade() -> None:
    conn = op.get_bind()
    root = _media_dir()
    stored = conn.execute(
        sa.text("SELECT id, media_path FROM ticket_messages WHERE media_status = 'stored' ORDER BY id")
    ).all()
    files = {message_id: _file(root, relative) for message_id, relative in stored}
    # refused before anything changes (MySQL/MariaDB do not roll back DDL)
    largest = _largest(conn)
    too_large = [path for path in files.values() if path is not None and path.stat().st_size > largest]
    if too_large:
        raise RuntimeError(
            f"{len(too_large)} media files are larger than the database takes ({largest} bytes), e.g. "
            f"{too_large[0]}: raise max_allowed_packet to 32M or more (docs/operations.md) and upgrade again"
        )
    if sa.inspect(conn).has_table("ticket_media"):  # left by an attempt that failed part way (MySQL/MariaDB)
        op.drop_table("ticket_media")
    op.create_table(
        "ticket_media",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("content", MEDIA_BYTES, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["ticket_messages.id"],
            name=op.f("fk_ticket_media_message_id_ticket_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_ticket_media")),
    )
    for message_id, path in files.items():  # one file in memory at a time
        if path is None:
            _mark_missing(conn, message_id)
            continue
        content = path.read_bytes()
        stored_at = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        conn.execute(
            TICKET_MEDIA.insert().values(
                message_id=message_id, content=content, size=len(content), stored_at=stored_at
            )
        )
    # last, so that a failure above leaves the paths (on SQLite the batch copies the table; its foreign keys
    # are off on Alembic's own connection, so ticket_media keeps its rows)
    with op.batch_alter_table("ticket_messages") as batch:
        batch.drop_column("media_path")


def downgrade() -> None:
    conn = op.get_bind()
    root = _media_dir()
    with op.batch_alter_table("ticket_messages") as batch:
        batch.add_column(sa.Column("media_path", sa.String(length=255), nullable=True))
    kept = conn.execute(
        sa.text(
            "SELECT m.id, m.conversation_id, m.media_type FROM ticket_media t"
            " JOIN ticket_messages m ON m.id = t.message_id ORDER BY m.id"
        )
    ).all()
    for message_id, conversation_id, media_type in kept:
        if root is None:
            _mark_missing(conn, message_id)
            continue
        content, stored_at = conn.execute(
            sa.text("SELECT content, stored_at FROM ticket_media WHERE message_id = :id"), {"id": message_id}
        ).one()  # one file in memory at a time
        extension = mimetypes.guess_extension(media_type or OPAQUE_TYPE) or ".bin"
        relative = Path(str(conversation_id), f"{message_id}{extension}")
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        moment = stored_at if isinstance(stored_at, datetime) else datetime.fromisoformat(str(stored_at))
        seconds = moment.replace(tzinfo=UTC).timestamp()
        os.utime(target, (seconds, seconds))
        conn.execute(
            sa.text("UPDATE ticket_messages SET media_path = :path WHERE id = :id"),
            {"path": str(relative), "id": message_id},
        )
    op.drop_table("ticket_media")
