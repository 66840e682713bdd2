"""The console's admin block on WeChat's limits: the pauses in force (one API of one app) with a button to
lift each, the apps marked unhealthy by repeated token errors, and the mini programs' paid phone quota. Admins only; a lift is audited."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from wxbot import clock
from wxbot.console import admin_required, bp, notice
from wxbot.conversations import agents
from wxbot.errors import DomainError
from wxbot.identity import phone_quota
from wxbot.push import limits
from wxbot.push.app_health import app_health
from wxbot.web import db, services


@bp.get("/limits")
@admin_required
def wechat_limits() -> str:
    session = db()
    return render_template(
        "console/limits.html",
        pauses=limits.pauses(session, clock.now()),
        health=app_health(session, services().settings),
        phone_quotas=phone_quota.overview(
            session,
            [mp.name for mp in services().settings.wechat.miniprogram],
            services().settings.identity.phone_quota_warn_below,
        ),
    )


@bp.post("/limits/lift")
@admin_required
def lift_pause() -> Response:
    session = db()
    app_name, api = request.form.get("app", "")[:32], request.form.get("api", "")[:64]
    try:
        lifted = limits.lift(session, app_name, api, actor=agents.actor(g.agent))
    except DomainError as exc:  # already over, or not a pause: said on the page
        session.rollback()
        notice(exc.message, "error")
    else:
        session.commit()
        notice(_("Pause lifted: %(app)s %(api)s", app=lifted.app_name, api=lifted.api))
    return redirect(url_for("console.wechat_limits"))
