"""The console's admin pages on agents: add, deactivate and let in again, reset a password; and the audit log.
Admins only. Each change goes through the same domain functions as `wxbot agents ...` and is audited the same
way, with the admin as the actor."""

from __future__ import annotations

from flask import abort, g, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from wxbot.console import act, admin_required, bp
from wxbot.conversations import agents
from wxbot.models.conversations import ROLES
from wxbot.privacy import audit
from wxbot.web import db

AUDIT_PAGE = 50


@bp.get("/agents")
@admin_required
def agents_page() -> str:
    return render_template("console/agents.html", agents=agents.all_agents(db()), roles=ROLES)


@bp.post("/agents")
@admin_required
def add_agent() -> Response:
    username, role = request.form.get("username", "")[:64], request.form.get("role", "agent")
    password = request.form.get("password", "")[:256]
    return act(
        lambda: agents.create_agent(
            db(), username=username, password=password, role=role, actor=agents.actor(g.agent)
        ),  # fmt: skip
        back=url_for("console.agents_page"),
        done=_("Agent %(name)s added.", name=username.strip().lower()),
    )


@bp.post("/agents/<username>/active")
@admin_required
def set_agent_active(username: str) -> Response:
    active = request.form.get("active") == "1"
    if not active and username == g.agent.username:
        abort(400, _("You cannot deactivate yourself."))
    return act(
        lambda: agents.set_active(db(), username, active, actor=agents.actor(g.agent)),
        back=url_for("console.agents_page"),
        done=_("%(name)s may log in again.", name=username)
        if active
        else _(
            "%(name)s is deactivated: their sessions ended, their open conversations are back in the queue.",
            name=username,
        ),  # fmt: skip
    )


@bp.post("/agents/<username>/password")
@admin_required
def reset_agent_password(username: str) -> Response:
    password = request.form.get("password", "")[:256]
    return act(
        lambda: agents.reset_password(db(), username, password, actor=agents.actor(g.agent)),
        back=url_for("console.agents_page"),
        done=_("%(name)s has a new password; their sessions ended.", name=username),
    )


@bp.get("/audit")
@admin_required
def audit_page() -> str:
    before = request.args.get("before", type=int)
    action = request.args.get("action", "").strip()[:64]
    entries = audit.entries(db(), before=before, action=action, limit=AUDIT_PAGE)
    older = entries[-1].id if len(entries) == AUDIT_PAGE else None
    return render_template("console/audit.html", entries=entries, older=older, action=action)
