"""The console's pages: inbox, conversation, statistics, canned replies, media."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, timedelta
from typing import Any

from flask import abort, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from wxbot import clock
from wxbot.applications import status_changes as applications
from wxbot.console import act, admin_required, bp, notice
from wxbot.console.reader import reader_link
from wxbot.conversations import canned as canned_replies
from wxbot.conversations import conversations, doors, replies
from wxbot.conversations import inbox as inbox_list
from wxbot.conversations import media as media_files
from wxbot.conversations import statistics as service_level
from wxbot.conversations.media import OPAQUE_TYPE
from wxbot.conversations.media import kept_type as kept_media_type
from wxbot.errors import DomainError, NotFound
from wxbot.models.conversations import Agent, CannedReply, Conversation, TicketMessage
from wxbot.privacy import requests as rights_requests
from wxbot.privacy.pii import mask_phone, normalise_phone
from wxbot.web import db, services

STATES = {"open": _l("Open"), "waiting": _l("Waiting on user"), "resolved": _l("Resolved")}
SCOPES = {"all": _l("All"), "mine": _l("Mine"), "unassigned": _l("Unassigned")}


def _target() -> timedelta:
    return timedelta(hours=services().settings.console.first_response_target_hours)


def conversation_or_404(conversation_id: int) -> Any:
    conversation = conversations.get(db(), conversation_id)
    if conversation is None:
        abort(404, _("No such conversation."))
    return conversation


@bp.errorhandler(HTTPException)
def console_error(e: HTTPException) -> Any:
    return render_template("console/error.html", error=e), e.code or 500


@bp.get("/")
def inbox() -> str:
    state = request.args.get("state", "open")
    scope = request.args.get("scope", "all")
    if state not in STATES or scope not in SCOPES:
        abort(400, _("Unknown inbox filter."))
    return render_template("console/inbox.html", **inbox_context(state, scope))


def inbox_context(state: str, scope: str) -> dict[str, Any]:
    """What the inbox shows (its page and its live part, wxbot.console.live)."""
    q = request.args.get("q", "").strip()[: inbox_list.MAX_QUERY]
    listing = inbox_list.page(db(), state=state, scope=scope, agent_id=g.agent.id, target=_target(),
                              search=_search(q), page=request.args.get("page", 1, type=int))  # fmt: skip
    return {"listing": listing, "rows": listing.rows, "state": state, "scope": scope, "q": q, "states": STATES,
            "scopes": SCOPES, "live_url": url_for("console.live_inbox") + _query()}  # fmt: skip


def _query() -> str:
    return "?" + request.query_string.decode() if request.query_string else ""


def _search(q: str) -> inbox_list.Search:
    """A phone number is looked up by its keyed hashes only; anything else as text."""
    try:
        phone = normalise_phone(q) if q else None
    except ValueError:
        phone = None
    if phone is not None:
        return inbox_list.Search(phone_hashes=tuple(services().pii.lookup_hashes(phone)))
    return inbox_list.Search(text=q)


@bp.app_template_filter("masked_phone")
def masked_phone(account: Any) -> str:
    if account is None or not account.phone_enc:
        return ""
    return mask_phone(services().pii.decrypt(account.phone_enc))


@bp.get("/c/<int:conversation_id>")
def conversation(conversation_id: int) -> str:
    session = db()
    conv = conversation_or_404(conversation_id)
    conversations.record_view(session, conv, g.agent)
    session.commit()
    return _conversation_page(conv)


def _conversation_page(
    conv: Any,
    revealed_phone: str | None = None,
    *,
    draft: str = "",
    blocked: str | None = None,
    error: str | None = None,
) -> str:
    session = db()
    account = conv.identity.account
    phone = None
    if account is not None and account.phone_enc:
        phone = revealed_phone or mask_phone(services().pii.decrypt(account.phone_enc))
    canned = [(c, _filled(c, conv)) for c in canned_replies.all_by_title(session)]
    canned_id = request.args.get("canned", type=int)
    chosen = next((text for c, text in canned if c.id == canned_id), None)
    if chosen is not None:  # (without the script: the link puts the canned reply in the box)
        draft = chosen
    agents = list(session.scalars(select(Agent).where(Agent.active.is_(True)).order_by(Agent.username)))
    thread = thread_context(conv)
    no_fallback = (
        replies.fallback_problem(session, services().settings, conv)
        if (thread["window_problem"] or blocked)
        else None
    )
    return render_template(
        "console/conversation.html",
        **thread,
        identity=conv.identity,
        account=account,
        phone=phone,
        revealed=revealed_phone is not None,
        canned=canned,
        no_fallback=no_fallback,
        blocked=blocked,
        error=error,
        draft=draft,
        agents=agents,
        form_token=secrets.token_urlsafe(16),
        applications=(
            applications.applications_of(session, account.id, services().settings.app.timezone, limit=5)
            if account is not None
            else []
        ),
    )


def _filled(canned: CannedReply, conv: Any) -> str:
    return canned_replies.render(
        canned.body,
        agent=g.agent.username,
        conversation=str(conv.id),
        target_hours=f"{services().settings.console.first_response_target_hours:g}",
    )


def thread_context(conv: Any) -> dict[str, Any]:
    """What the thread shows that changes by itself (its page and its live parts, wxbot.console.live)."""
    session = db()
    window = replies.window(session, conv)
    return {
        "conv": conv,
        "window": window,
        "time_left": (window.expires_at - clock.now()) if window.expires_at else None,
        "window_problem": replies.window_problem(session, conv),
        "overdue": service_level.is_overdue(conv, _target()),
        "first_response": service_level.first_response_time(conv),
        "deliveries": replies.deliveries(session, conv),
        "states": STATES,
        "details": conversations.details,
        "live_url": url_for("console.live_conversation", conversation_id=conv.id),
    }


def _thread_end(conversation_id: int) -> str:
    return url_for("console.conversation", conversation_id=conversation_id) + "#thread-end"


def _act(conversation_id: int, action: Any) -> Any:
    conv = conversation_or_404(conversation_id)
    return act(lambda: action(db(), conv), back=_thread_end(conversation_id))


@bp.post("/c/<int:conversation_id>/claim")
def claim(conversation_id: int) -> Response:
    return _act(conversation_id, lambda s, c: conversations.claim(s, c, g.agent))


@bp.post("/c/<int:conversation_id>/assign")
def assign(conversation_id: int) -> Response:
    raw = request.form.get("assignee_id", "")
    if raw and not raw.isdigit():
        abort(400, _("Pick an agent."))
    return _act(conversation_id, lambda s, c: conversations.assign(s, c, g.agent, int(raw) if raw else None))


@bp.post("/c/<int:conversation_id>/resolve")
def resolve(conversation_id: int) -> Response:
    return _act(conversation_id, lambda s, c: conversations.resolve(s, c, g.agent))


@bp.post("/c/<int:conversation_id>/reopen")
def reopen(conversation_id: int) -> Response:
    return _act(conversation_id, lambda s, c: conversations.reopen(s, c, g.agent))


@bp.post("/c/<int:conversation_id>/note")
def note(conversation_id: int) -> Response:
    body, token = request.form.get("body", ""), request.form.get("form_token", "")
    return _act(conversation_id, lambda s, c: replies.add_note(s, c, g.agent, body, token))


@bp.post("/c/<int:conversation_id>/m/<int:message_id>/resend")
def resend(conversation_id: int, message_id: int) -> Response:
    return _act(conversation_id, lambda s, c: replies.resend(s, c, g.agent, message_id))


@bp.post("/c/<int:conversation_id>/m/<int:message_id>/fetch")
def fetch_media_again(conversation_id: int, message_id: int) -> Response:
    return _act(conversation_id, lambda s, c: media_files.fetch_again(s, c, g.agent, message_id))


@bp.app_template_filter("media_problem")
def media_problem(media_error: str | None) -> str:
    return media_files.problem(media_error)


@bp.post("/c/<int:conversation_id>/reply")
def reply(conversation_id: int) -> Any:
    conv = conversation_or_404(conversation_id)
    body, token = request.form.get("body", ""), request.form.get("form_token", "")

    def refused(refusal: DomainError) -> tuple[str, int]:
        # the form again with the draft; when only the chat is barred (told before anything is sent), with
        # the fallback offered
        if isinstance(refusal, replies.ReplyBlocked):
            return _conversation_page(conv, draft=body, blocked=refusal.message), 409
        if refusal.code in ("no_fallback", "claimed_by_other"):
            return _conversation_page(conv, draft=body), 409  # the page says why
        return _conversation_page(conv, draft=body, error=_(refusal.message)), 400

    return act(
        lambda: replies.reply(
            db(),
            conv,
            g.agent,
            body,
            token,
            fallback=request.form.get("mode") == "fallback",
            reader_link=reader_link(conv, request.host_url),
            settings=services().settings,
            over_claim=request.form.get("over_claim") == "1",
        ),
        back=_thread_end(conversation_id),
        refused=refused,
    )


@bp.post("/c/<int:conversation_id>/reveal")
@admin_required
def reveal(conversation_id: int) -> str:
    session = db()
    conv = conversation_or_404(conversation_id)
    account = conv.identity.account
    if account is None or not account.phone_enc:
        abort(404, _("This follower has no linked phone number."))
    conversations.record_reveal(session, conv, g.agent)  # refused: the error page (wxbot.console)
    session.commit()
    return _conversation_page(conv, revealed_phone=services().pii.decrypt(account.phone_enc))


@bp.get("/media/<int:message_id>")
def media(message_id: int) -> Response:
    found = media_files.stored(db(), message_id)
    if found is None:
        abort(404, _("This media file is not stored."))
    message, kept = found
    # the allowlist again: rows stored before it may name any type the upstream answered
    content_type = kept_media_type(message.media_type)
    stored_at = kept.stored_at.replace(tzinfo=UTC)
    response = send_file(io.BytesIO(kept.content), mimetype=content_type, max_age=0,
                         download_name=media_files.file_name(message_id, content_type),
                         as_attachment=content_type == OPAQUE_TYPE, last_modified=stored_at,
                         etag=f"{message_id}-{kept.size}-{stored_at.timestamp():.0f}")  # fmt: skip
    response.headers["Cache-Control"] = "private, no-store"
    # a document that slips through anyway gets an opaque origin and may load nothing, run nothing
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@bp.get("/stats")
def statistics() -> str:
    figures = service_level.summary(db(), _target())
    return render_template("console/stats.html", figures=figures, target=_target())


@bp.route("/canned", methods=["GET", "POST"])
def canned() -> Any:
    session = db()
    if request.method == "POST":
        if g.agent.role != "admin":
            abort(403, _("Only an admin may change canned replies."))
        raw_id = request.form.get("canned_id", "")
        return act(
            lambda: canned_replies.save(
                session,
                title=request.form.get("title", ""),
                body=request.form.get("body", ""),
                canned_id=int(raw_id) if raw_id.isdigit() else None,
            ),
            back=url_for("console.canned"),
            done=_("Saved."),
        )
    return render_template(
        "console/canned.html", canned=canned_replies.all_by_title(session), variables=canned_replies.VARIABLES
    )


@bp.app_template_filter("duration")
def duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = max(int(value.total_seconds() // 60), 0)
    if minutes < 60:
        return _("%(m)s min", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("%(h)s h %(m)s min", h=hours, m=str(minutes).zfill(2)) if minutes else _("%(h)s h", h=hours)
    return _("%(d)s d %(h)s h", d=hours // 24, h=hours % 24)


@bp.app_template_filter("local")
def local_time(value: Any) -> str:
    return clock.local_text(value, services().settings.app.timezone, empty="—")


@bp.app_template_filter("door")
def door(value: Conversation | TicketMessage) -> str:
    """The door a message came through, or the one a conversation's replies go through (公众号 / 小程序)."""
    if isinstance(value, TicketMessage):
        name = value.app_name or value.conversation.identity.app_name
        kind = "miniprogram" if services().settings.miniprogram(name) else "official"
        return doors.door_label(kind, name)
    identity = value.reply_identity
    return doors.door_label(identity.kind, identity.app_name)


@bp.get("/privacy-requests")
@admin_required
def privacy_requests() -> str:
    """The users' requests (export, correction, deletion, cancellation...) with their 15-day due dates."""
    return _privacy_requests_page()


def _privacy_requests_page(read: tuple[int, str | None] | None = None) -> str:
    session = db()
    return render_template(
        "console/privacy_requests.html",
        requests=rights_requests.open_requests(session),
        counts=rights_requests.request_counts(session),
        read=read,
    )


@bp.post("/privacy-requests/<int:request_id>/read")
@admin_required
def read_privacy_request(request_id: int) -> str:
    """The user's own words on a request (what to correct, for instance): shown on demand, audited."""
    session = db()
    try:
        message = rights_requests.request_message(session, request_id, actor=f"agent:{g.agent.id}")
    except NotFound as exc:
        abort(404, exc.message)
    session.commit()
    return _privacy_requests_page(read=(request_id, message))


@bp.post("/privacy-requests/<int:request_id>/close")
@admin_required
def close_privacy_request(request_id: int) -> Response:
    session = db()
    outcome = request.form.get("outcome", "")
    if outcome not in ("completed", "rejected"):
        abort(400, _("outcome must be completed or rejected"))
    try:
        rights_requests.close_request(session, request_id, actor=f"agent:{g.agent.id}", outcome=outcome)
    except DomainError as exc:  # not pending, or a cancellation (closed by its job): said on the page
        session.rollback()
        notice(exc.message, "error")
    else:
        session.commit()
        notice(
            _("Request #%(id)s completed.", id=request_id)
            if outcome == "completed"
            else _("Request #%(id)s rejected.", id=request_id)
        )
    return redirect(url_for("console.privacy_requests"))
