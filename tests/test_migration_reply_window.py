"""Migration b9a0c1d2e3f4 moves each follower's reply-window grants from reply_windows onto their identity
row and back, on SQLite and (when configured) MariaDB."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from tests.migration_helpers import empty_mariadb_database, needs_mariadb
from wxbot.migrate import alembic_config, upgrade

BEFORE = "f6b2c3d4e5f6"


def _moves_the_grants(url: str) -> None:
    upgrade(url, BEFORE)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for openid in ("o-both", "o-none"):
            conn.execute(
                sa.text("INSERT INTO identities (app_name, appid, kind, openid, subscribed, created_at, updated_at)"
                        " VALUES ('oa', 'wx1', 'official', :openid, 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00')"),
                {"openid": openid},
            )  # fmt: skip
        both = conn.execute(sa.text("SELECT id FROM identities WHERE openid = 'o-both'")).scalar_one()
        conn.execute(
            sa.text("INSERT INTO reply_windows (identity_id, kind, opened_at, expires_at, remaining) VALUES"
                    " (:i, 'message', '2026-12-01 00:00:00', '2026-12-03 00:00:00', 4),"
                    " (:i, 'action', '2026-12-01 00:00:00', '2026-12-01 00:01:00', 2)"),
            {"i": both},
        )  # fmt: skip
    upgrade(url)
    columns = ("message_window_expires_at", "message_window_remaining", "action_window_expires_at",
               "action_window_remaining")  # fmt: skip
    with engine.connect() as conn:
        found = conn.execute(sa.text(f"SELECT openid, {', '.join(columns)} FROM identities"))
        rows = {r[0]: tuple(r[1:]) for r in found}
    assert [str(v)[:19] for v in rows["o-both"]] == ["2026-12-03 00:00:00", "4", "2026-12-01 00:01:00", "2"]
    assert rows["o-none"] == (None, 0, None, 0)
    command.downgrade(alembic_config(url), BEFORE)
    with engine.connect() as conn:
        back = conn.execute(sa.text("SELECT kind, remaining FROM reply_windows ORDER BY kind")).all()
    assert [tuple(r) for r in back] == [("action", 2), ("message", 4)]
    engine.dispose()


def test_the_grants_move_onto_the_identity_rows_and_back_on_sqlite(tmp_path):
    _moves_the_grants(f"sqlite:///{tmp_path}/m.db")


@needs_mariadb
def test_the_grants_move_onto_the_identity_rows_and_back_on_mariadb():
    with empty_mariadb_database() as url:
        _moves_the_grants(url)
