"""Who the mini-program user is: login, phone authorisation, me, unlink, logout, redeeming a binding token."""

from __future__ import annotations

from typing import Any

from flask import g

from wxbot import identity as identities
from wxbot import logins
from wxbot.miniprogram import bp, login_required
from wxbot.miniprogram.openapi import AUTH, add_paths, errors, ok
from wxbot.web import db, services


def actor() -> str:
    return f"user:identity:{g.identity.id}"


def me_view() -> dict[str, Any]:
    """The signed-in user as they may see themselves: account (phone masked), linked WeChat identities."""
    identity, account = g.identity, g.account
    members = identities.identities_of(db(), account.id) if account is not None else [identity]
    return {
        "linked": account is not None,
        "account": identities.account_summary(services().pii, account),
        "identities": [
            {
                "app": m.app_name,
                "kind": m.kind,
                "current": m.id == identity.id,
                "subscribed": m.subscribed if m.kind == "official" else None,
            }
            for m in members
        ],
        "preferences": {"reminders": account.reminder_pref} if account is not None else None,
    }


@bp.get("/me")
@login_required
def me() -> dict[str, Any]:
    return me_view()


@bp.delete("/me/link")
@login_required
def unlink() -> dict[str, Any]:
    """Unlink this WeChat user (the identity and its unionid group) from the account."""
    session = db()
    identities.unlink(session, g.identity, actor=actor())
    session.commit()
    g.account = None
    return me_view()


@bp.post("/logout")
@login_required
def logout() -> dict[str, Any]:
    session = db()
    logins.revoke(session, g.login)
    session.commit()
    return {"logged_out": True}


add_paths(
    {
        "/me": {
            "get": {
                "summary": "The signed-in user: account (phone masked), linked WeChat identities, preferences",
                "security": AUTH,
                "responses": {"200": ok("Me"), **errors(401, 404)},
            }
        },
        "/me/link": {
            "delete": {
                "summary": "Unlink this WeChat user (and its other WeChat identities with the same unionid)",
                "security": AUTH,
                "responses": {"200": ok("Me"), **errors(401, 404)},
            }
        },
        "/logout": {
            "post": {
                "summary": "Revoke this login token",
                "security": AUTH,
                "responses": {"200": ok("LoggedOut"), **errors(401, 404)},
            }
        },
    }
)
