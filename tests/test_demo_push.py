"""What a newcomer sees with `make run`'s configuration (the embedded defaults): a status change from the platform
arrives in the sandbox follower's chat as a template message, and the platform's answer said it was queued."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
from werkzeug.serving import make_server

from jobs.sender import send_due
from tests.conftest import PLATFORM_SECRET
from tests.helpers import platform_post
from tests.test_sandbox_page import Person, QuietHandler
from wxbot import create_app
from wxbot.config import settings_from_dict
from wxbot.config.loading import embedded_defaults
from wxbot.db import Base


@pytest.fixture
def demo(tmp_path, clock):
    """The app as `make run` configures it (demo account, sandbox mounted), on a free loopback port."""
    from datetime import datetime

    clock.set(datetime(2026, 11, 30, 4, 0))  # noon in Shanghai: outside the quiet hours
    holder = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start), threaded=True,
                         request_handler=QuietHandler)  # fmt: skip
    url = f"http://127.0.0.1:{server.server_port}"
    raw = embedded_defaults()
    raw["app"].update(var_dir=str(tmp_path / "var"))
    raw.update(database={"url": f"sqlite:///{tmp_path}/demo.db"}, scheduler={"embedded": False},
               platform={"secret": PLATFORM_SECRET})  # fmt: skip
    raw["sandbox"]["public_url"] = url
    app = holder["app"] = create_app(settings_from_dict(raw, env={}))
    services = app.extensions["wxbot"]
    Base.metadata.create_all(services.engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(
        url=url, app=app, services=services, state=services.sandbox, client=app.test_client()
    )
    server.shutdown()
    thread.join(timeout=5)
    services.engine.dispose()


def test_a_status_change_arrives_in_the_sandbox_chat_of_the_demo_account(demo):
    person = Person(demo, "demo")
    person.act("follow")
    assert platform_post(demo.client, "/platform/accounts", {"account_id": "p-1", "phone": "13800138000"}).status_code == 201  # fmt: skip
    qr = platform_post(demo.client, "/platform/bind-qr", {"account_id": "p-1"}).get_json()
    person.act(
        "scan", ticket=parse_qs(urlparse(qr["image_url"]).query)["ticket"][0]
    )  # the follower is linked

    answer = platform_post(demo.client, "/platform/applications/status", {
        "event_id": "e1", "account_id": "p-1", "application_id": "a1", "job_title": "后端开发工程师",
        "company": "示例科技", "status": "interview", "changed_at": "2026-11-30T11:00:00+08:00"}).get_json()  # fmt: skip
    assert (answer["queued"], answer["reason"], answer["explanation"]) == (True, None, "排队等待发送")

    send_due(demo.services)
    who, text = person.lines()[-1]
    assert who == "delivered" and text.startswith("[demo-status-template]")
    assert "后端开发工程师" in text and "面试邀请" in text and "2026年11月30日 11:00" in text
