"""Migration c8d9e0f1a2b3 moves the media files of the migrating host into ticket_media, marks the messages
whose file is not there as missing (fetched again from WeChat on an agent's request), drops media_path, and
on downgrade writes the files back; on SQLite and (when configured) MariaDB."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import command

from tests.migration_helpers import empty_mariadb_database, needs_mariadb
from wxbot.migrate import alembic_config, upgrade

BEFORE = "b9a0c1d2e3f4"
AFTER = "c8d9e0f1a2b3"
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
VOICE = b"#!AMR\n" + b"\x00" * 32
REPLY = b"\xff\xd8\xff" + b"'\"\\" * 8


def _arrange(url: str, media_dir) -> dict[str, int]:
    """Before the migration: a follower's stored image and voice, a stored image reply of an agent, one whose
    file another host kept, one whose path points out of the media directory, and one still pending."""
    upgrade(url, BEFORE)
    engine = sa.create_engine(url)
    now = "2026-12-03 10:00:00"
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO identities (app_name, appid, kind, openid, subscribed, created_at, updated_at)"
                    " VALUES ('oa', 'wx1', 'official', 'o-media', 1, :now, :now)"),
            {"now": now},
        )  # fmt: skip
        identity = conn.execute(sa.text("SELECT id FROM identities")).scalar_one()
        conn.execute(
            sa.text("INSERT INTO conversations (identity_id, state, created_at, updated_at)"
                    " VALUES (:i, 'open', :now, :now)"),
            {"i": identity, "now": now},
        )  # fmt: skip
        conversation = conn.execute(sa.text("SELECT id FROM conversations")).scalar_one()
        ids = {}
        for name, direction, media_id, status, path, media_type in [
            ("image", "inbound", "m-image", "stored", f"{conversation}/1.png", "image/png"),
            ("voice", "inbound", "m-voice", "stored", f"{conversation}/2.amr", "audio/amr"),
            ("reply", "outbound", None, "stored", f"{conversation}/reply-0123456789abcdef.jpg", "image/jpeg"),
            ("elsewhere", "inbound", "m-elsewhere", "stored", f"{conversation}/4.png", "image/png"),
            ("outside", "inbound", "m-outside", "stored", "../../secret.png", "image/png"),
            ("pending", "inbound", "m-pending", "pending", None, None),
        ]:
            conn.execute(
                sa.text("INSERT INTO ticket_messages (conversation_id, direction, kind, body, media_id,"
                        " media_status, media_path, media_type, media_attempts, created_at)"
                        " VALUES (:c, :d, 'image', '', :mid, :s, :p, :t, 1, :now)"),
                {"c": conversation, "d": direction, "mid": media_id, "s": status, "p": path, "t": media_type,
                 "now": now},
            )  # fmt: skip
            ids[name] = conn.execute(sa.text("SELECT MAX(id) FROM ticket_messages")).scalar_one()
    engine.dispose()
    folder = media_dir / str(conversation)
    folder.mkdir(parents=True)
    (folder / "1.png").write_bytes(IMAGE)
    (folder / "2.amr").write_bytes(VOICE)
    (folder / "reply-0123456789abcdef.jpg").write_bytes(REPLY)
    (media_dir.parent.parent / "secret.png").write_bytes(b"not media")
    os.utime(folder / "1.png", (1796292000, 1796292000))  # 2026-12-03 10:00:00 UTC
    return ids | {"conversation": conversation}


def _moves_the_files(url: str, tmp_path) -> None:
    media_dir = tmp_path / "var" / "media"
    ids = _arrange(url, media_dir)
    upgrade(url, AFTER, media_dir=media_dir)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        kept = {r[0]: (bytes(r[1]), r[2], str(r[3])[:19]) for r in
                conn.execute(sa.text("SELECT message_id, content, size, stored_at FROM ticket_media"))}  # fmt: skip
        states = {r[0]: (r[1], r[2]) for r in
                  conn.execute(sa.text("SELECT id, media_status, media_error FROM ticket_messages"))}  # fmt: skip
        columns = {c["name"] for c in sa.inspect(conn).get_columns("ticket_messages")}
    assert kept == {
        ids["image"]: (IMAGE, len(IMAGE), "2026-12-03 10:00:00"),  # kept from when the file was written
        ids["voice"]: (VOICE, len(VOICE), kept[ids["voice"]][2]),
        ids["reply"]: (REPLY, len(REPLY), kept[ids["reply"]][2]),
    }
    assert states[ids["image"]] == states[ids["voice"]] == states[ids["reply"]] == ("stored", None)
    assert states[ids["elsewhere"]] == states[ids["outside"]] == ("failed", "missing")
    assert states[ids["pending"]] == ("pending", None)
    assert "media_path" not in columns

    # the bytes go with their message
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.execute(sa.text("DELETE FROM ticket_messages WHERE id = :i"), {"i": ids["voice"]})
    with engine.connect() as conn:
        left = set(conn.execute(sa.text("SELECT message_id FROM ticket_media")).scalars())
    assert left == {ids["image"], ids["reply"]}

    back = tmp_path / "back" / "media"
    command.downgrade(alembic_config(url, back), BEFORE)
    with engine.connect() as conn:
        paths = dict(
            conn.execute(
                sa.text("SELECT id, media_path FROM ticket_messages WHERE media_path IS NOT NULL")
            ).all()
        )
        tables = sa.inspect(conn).get_table_names()
    engine.dispose()
    conversation = ids["conversation"]
    assert paths == {ids["image"]: f"{conversation}/{ids['image']}.png",
                     ids["reply"]: f"{conversation}/{ids['reply']}.jpg"}  # fmt: skip
    assert (back / paths[ids["image"]]).read_bytes() == IMAGE
    assert (back / paths[ids["image"]]).stat().st_mtime == 1796292000
    assert (back / paths[ids["reply"]]).read_bytes() == REPLY
    assert "ticket_media" not in tables


def test_the_media_files_move_into_the_database_and_back_on_sqlite(tmp_path):
    _moves_the_files(f"sqlite:///{tmp_path}/m.db", tmp_path)


def test_without_the_media_directory_every_stored_file_is_missing_and_can_be_fetched_again(tmp_path):
    url = f"sqlite:///{tmp_path}/m.db"
    ids = _arrange(url, tmp_path / "var" / "media")
    upgrade(url, AFTER)  # no media_dir: no file is found
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        failed = set(
            conn.execute(sa.text("SELECT id FROM ticket_messages WHERE media_error = 'missing'")).scalars()
        )
        kept = conn.execute(sa.text("SELECT COUNT(*) FROM ticket_media")).scalar_one()
    engine.dispose()
    assert failed == {ids[n] for n in ("image", "voice", "reply", "elsewhere", "outside")} and kept == 0


@needs_mariadb
def test_the_media_files_move_into_the_database_and_back_on_mariadb(tmp_path):
    with empty_mariadb_database() as url:
        _moves_the_files(url, tmp_path)
