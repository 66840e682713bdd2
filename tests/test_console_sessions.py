"""Console sessions end after an idle timeout and an absolute lifetime (moved clock), and the console's headers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.console_helpers import form_csrf, login, make_agent, make_conversation
from wxbot.models import TicketMessage


def ended_at_login(response, reason: str) -> str:
    """The answer of a request whose session is over: the login page, saying why (in Chinese)."""
    assert response.status_code in (302, 303)
    target = urlsplit(response.headers["Location"])
    assert target.path == "/console/login" and parse_qs(target.query)["ended"] == [reason]
    return target.path + "?" + target.query


def test_a_session_ends_after_two_idle_hours_and_the_agent_is_told_why(client, db, clock):
    make_agent(db)
    login(client)
    clock.advance(hours=1, minutes=59)
    assert client.get("/console/").status_code == 200  # a request keeps it alive
    clock.advance(hours=1, minutes=59)
    assert client.get("/console/stats").status_code == 200
    clock.advance(hours=2, seconds=1)
    page = ended_at_login(client.get("/console/stats"), "idle")
    assert parse_qs(urlsplit(page).query)["next"] == ["/console/stats"]  # back there after logging in
    text = client.get(page).get_data(as_text=True)
    assert "你已 2 小时未操作，登录已结束，请重新登录" in text
    assert client.get("/console/").status_code == 302  # and it stays over
    assert login(client).status_code == 302 and client.get("/console/").status_code == 200


def test_a_session_ends_12_hours_after_its_login_however_busy(client, db, clock):
    make_agent(db)
    login(client)
    for _ in range(11):
        clock.advance(hours=1)
        assert client.get("/console/").status_code == 200
    clock.advance(hours=1, seconds=1)
    page = ended_at_login(client.get("/console/"), "lifetime")
    assert "登录已满 12 小时，请重新登录" in client.get(page).get_data(as_text=True)


def test_a_form_sent_after_the_session_ended_returns_to_the_login_page_not_a_bare_401(client, db, clock):
    make_agent(db)
    conv = make_conversation(db)
    login(client)
    page = client.get(f"/console/c/{conv.id}").get_data(as_text=True)
    clock.advance(hours=3)
    response = client.post(f"/console/c/{conv.id}/note", data={"csrf_token": form_csrf(page), "body": "x"})
    assert response.status_code == 303
    ended_at_login(response, "idle")
    assert db.query(TicketMessage).filter_by(direction="note").count() == 0


def test_the_idle_timeout_and_lifetime_are_configurable(config_dict, request):
    config_dict["console"] = {"session_hours": 0.5, "session_lifetime_hours": 1}
    client, db, clock = (request.getfixturevalue(n) for n in ("client", "db", "clock"))
    make_agent(db)
    login(client)
    clock.advance(minutes=31)
    ended_at_login(client.get("/console/"), "idle")
    login(client)
    for _ in range(3):
        clock.advance(minutes=20)
        assert client.get("/console/").status_code == 200
    clock.advance(minutes=1)
    ended_at_login(client.get("/console/"), "lifetime")


def test_console_headers(client, db):
    make_agent(db)
    for response in (client.get("/console/login"), (login(client), client.get("/console/"))[1]):
        csp = response.headers["Content-Security-Policy"]
        for directive in (
            "default-src 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ):
            assert directive in csp
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"  # Secure cookies: HTTPS
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_hsts_where_the_cookies_are_not_secure(config_dict, request):
    config_dict["console"] = {"secure_cookie": False}  # a laptop over plain http
    assert "Strict-Transport-Security" not in request.getfixturevalue("client").get("/console/login").headers
