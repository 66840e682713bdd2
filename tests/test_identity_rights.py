"""What the identity module registers with wxbot.privacy.registry: export without secrets, erasure of phone and logins."""

from __future__ import annotations

from sqlalchemy import select

from tests.mp_helpers import PHONE, MiniProgramUser, fetch
from wxbot.models import Account, LoginSession, SessionKey
from wxbot.privacy import registry as rights


def identity_module():
    return next(m for m in rights.modules() if m.name == "identity")


def test_export_lists_identities_and_logins_but_no_secrets(client, sandbox, db):
    user = MiniProgramUser(client, sandbox, unionid="u-1")
    user.login()
    user.authorise_phone()
    (account,) = fetch(db, select(Account))
    exported = identity_module().export(db, account.id)
    db.rollback()
    assert exported["account"]["phone_on_file"] is True
    assert [(i["app"], i["openid"], i["unionid"]) for i in exported["identities"]] == [
        ("mp", "o-mp-1", "u-1")
    ]
    assert len(exported["login_sessions"]) == 1
    text = repr(exported)
    assert user.token not in text and user.session_key not in text and PHONE not in text


def test_erase_drops_logins_and_session_keys(client, sandbox, db):
    user = MiniProgramUser(client, sandbox)
    user.login()
    user.authorise_phone()
    (account,) = fetch(db, select(Account))
    counts = identity_module().erase(db, account.id)
    db.commit()
    assert counts == {"login_sessions": 1, "session_keys": 1, "binding_tokens": 0}
    assert fetch(db, select(LoginSession)) == [] and fetch(db, select(SessionKey)) == []
    assert client.get("/mp/mp/me", headers={"Authorization": f"Bearer {user.token}"}).status_code == 401


def test_ended_logins_and_old_session_keys_are_purged_after_the_retention_period(
    client, sandbox, db, services, clock
):
    from datetime import timedelta

    from jobs.retention import run_retention

    old, recent = (
        MiniProgramUser(client, sandbox, openid="o-old"),
        MiniProgramUser(client, sandbox, openid="o-new"),
    )
    old.login()
    clock.advance(days=7 + services.settings.retention.login_sessions_days)
    recent.login()
    clock.advance(timedelta(seconds=1))
    assert run_retention(services, force=True)["login_sessions"].deleted == 2  # old's login and its key
    assert len(fetch(db, select(LoginSession))) == 1 and len(fetch(db, select(SessionKey))) == 1
    assert client.get("/mp/mp/me", headers={"Authorization": f"Bearer {recent.token}"}).status_code == 200
