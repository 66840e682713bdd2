"""What the console shows about the person behind a conversation: their status reminders (why they did or
didn't get one), and for admins the users' privacy requests with their 15-day due dates."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.console_helpers import form_csrf, login, make_agent, make_conversation
from tests.helpers import platform_post
from wxbot.models import Account, AuditEntry, PrivacyRequest
from wxbot.privacy import corrections

STATUS = "/platform/applications/status"


def status_event(**changes):
    body = {"event_id": "ev-1", "account_id": "p-o-follower-1", "application_id": "app-1",
            "job_title": "后端开发工程师", "company": "示例科技", "status": "interview",
            "changed_at": "2026-11-28T12:00:00+08:00"}  # fmt: skip
    return {**body, **changes}


def test_the_conversation_page_says_why_the_follower_did_or_didnt_get_each_reminder(client, db, services):
    conv = make_conversation(db, phone_enc=services.pii.encrypt("13812345678"))
    platform_post(client, STATUS, status_event())
    # an older change arriving late is recorded, never pushed: the agent sees why
    platform_post(client, STATUS, status_event(event_id="ev-0", status="viewed",
                                               changed_at="2026-11-28T09:00:00+08:00"))  # fmt: skip
    make_agent(db)
    login(client)
    page = client.get(f"/console/c/{conv.id}").get_data(as_text=True)
    section = page[page.index('id="status-reminders"') :]
    assert "后端开发工程师" in section and "示例科技" in section and "面试邀请" in section
    assert "未推送：这条变更早于申请的当前状态" in section


def test_a_follower_without_an_account_has_no_reminder_section(client, db):
    conv = make_conversation(db)
    make_agent(db)
    login(client)
    assert 'id="status-reminders"' not in client.get(f"/console/c/{conv.id}").get_data(as_text=True)


def test_admins_see_pending_privacy_requests_with_overdue_flagged_and_close_them(client, db, clock):
    account = Account(platform_account_id="p-1")
    db.add(account)
    db.commit()
    request = corrections.request_correction(db, account.id, "我的学校写错了", channel="miniprogram")
    db.commit()
    make_agent(db, "bob", role="agent")
    root = make_agent(db, "root", role="admin")

    login(client, "bob")
    assert client.get("/console/privacy-requests").status_code == 403  # agents don't

    client.post(
        "/console/logout", data={"csrf_token": form_csrf(client.get("/console/").get_data(as_text=True))}
    )
    login(client, "root")
    page = client.get("/console/privacy-requests").get_data(as_text=True)
    assert (
        "correction" in page
        and "待处理 1 个" in page
        and "已超期 0 个" in page
        and "badge overdue" not in page
    )

    clock.advance(timedelta(days=16))
    login(client, "root")  # the session ended long ago
    page = client.get("/console/privacy-requests").get_data(as_text=True)
    assert "已超期 1 个" in page and "badge overdue" in page

    closed = client.post(f"/console/privacy-requests/{request.id}/close",
                         data={"csrf_token": form_csrf(page), "outcome": "completed"})  # fmt: skip
    assert closed.status_code == 302
    db.expire_all()
    assert db.scalar(select(PrivacyRequest.status).where(PrivacyRequest.id == request.id)) == "completed"
    closers = db.scalars(
        select(AuditEntry.actor).where(AuditEntry.action == "privacy_request.completed")
    ).all()
    assert closers == [f"agent:{root.id}"]
    db.commit()
    assert "没有待处理的请求。" in client.get("/console/privacy-requests").get_data(as_text=True)


def test_closing_a_privacy_request_needs_the_csrf_token(client, db):
    account = Account(platform_account_id="p-1")
    db.add(account)
    db.commit()
    request = corrections.request_correction(db, account.id, "请更正", channel="miniprogram")
    db.commit()
    make_agent(db, "root", role="admin")
    login(client, "root")
    assert (
        client.post(
            f"/console/privacy-requests/{request.id}/close", data={"outcome": "completed"}
        ).status_code
        == 400
    )
    db.expire_all()
    assert db.scalar(select(PrivacyRequest.status).where(PrivacyRequest.id == request.id)) == "pending"
    db.commit()


def test_admins_read_what_a_user_asked_to_correct_audited_also_without_an_account(client, db):
    conv = make_conversation(db)  # a follower who never linked an account
    request = corrections.request_correction(
        db, None, "我的昵称写错了，电话13812345678", identity_id=conv.identity_id, channel="official_account"
    )
    db.commit()
    make_agent(db, "bob", role="agent")
    root = make_agent(db, "root", role="admin")

    login(client, "bob")
    page = client.get("/console/").get_data(as_text=True)
    read = f"/console/privacy-requests/{request.id}/read"
    assert client.post(read, data={"csrf_token": form_csrf(page)}).status_code == 403  # agents don't

    client.post("/console/logout", data={"csrf_token": form_csrf(page)})
    login(client, "root")
    page = client.get("/console/privacy-requests").get_data(as_text=True)
    assert f"微信身份 #{conv.identity_id}" in page and "我的昵称写错了" not in page
    assert client.post(read).status_code == 400  # no CSRF token, nothing shown
    shown = client.post(read, data={"csrf_token": form_csrf(page)}).get_data(as_text=True)
    assert "我的昵称写错了" in shown and "13812345678" not in shown  # numbers were masked when it was kept
    viewers = db.scalars(select(AuditEntry.actor).where(AuditEntry.action == "privacy_request.view")).all()
    assert viewers == [f"agent:{root.id}"]
    db.commit()
    missing = client.post("/console/privacy-requests/999999/read", data={"csrf_token": form_csrf(page)})
    assert missing.status_code == 404
