"""A token error that outlasts the facade's refresh-and-retry: the row is tried again with backoff and no
further refresh until the token changes, and after `[wechat] unhealthy_after_token_failures` such sends the
app is unhealthy (app_health, `wxbot apps health`) until a send goes out again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from jobs.sender import send_due
from tests.test_sender import FIELDS, MP_TID, NOON, OA_TID, TEMPLATE, Person, only_push, status_event
from wxbot.cli import main as cli
from wxbot.push.app_health import app_health

UNHEALTHY_AFTER = 3


@pytest.fixture
def config_dict(config_dict):
    templates = {
        "status_interview": {
            "oa": {"template_id": OA_TID, "fields": FIELDS},
            "mp": {"template_id": MP_TID, "fields": FIELDS},
        }
    }
    config_dict["notify"] = {"templates": templates, "retry_base_seconds": 10.0}
    config_dict["wechat"]["unhealthy_after_token_failures"] = UNHEALTHY_AFTER
    return config_dict


def token_fetches(sandbox) -> int:
    return len(sandbox.calls("/cgi-bin/stable_token")) + len(sandbox.calls("/cgi-bin/token"))


def health_of(db, services, app_name="oa"):
    (found,) = [h for h in app_health(db, services.settings) if h.app_name == app_name]
    db.commit()
    return found


def test_a_token_refused_after_the_refresh_is_not_refreshed_again_and_the_app_turns_unhealthy(
    client, services, db, sandbox, clock, settings, tmp_path
):
    clock.set(NOON)
    Person(db, sandbox)
    attempts = 5
    # WeChat refuses every token for template/send: 2 calls on the first attempt (the refresh's retry), then 1
    sandbox.inject(TEMPLATE, errcode=40001, times=attempts + 1)
    status_event(client, "interview")
    for _ in range(attempts):
        send_due(services)
        clock.advance(minutes=15)  # past the backoff (10 s doubling, at most 160 s * 1.2 by the 5th)
    push = only_push(db)
    assert (push.status, push.reason, push.errcode, push.attempts) == ("pending", "retrying", 40001, attempts)
    assert len(sandbox.calls(TEMPLATE)) == attempts + 1
    assert token_fetches(sandbox) == 2  # the first token and one refresh, not one refresh per attempt
    health = health_of(db, services)
    assert (health.healthy, health.token_failures, health.errcode) == (False, attempts, 40001)
    assert health.unhealthy_since == NOON + timedelta(minutes=15 * (UNHEALTHY_AFTER - 1))  # the 3rd attempt
    env = {
        "WXBOT_APP_ENVIRONMENT": "development",
        "WXBOT_DATABASE_URL": settings.database.url,
        "WXBOT_APP_VAR_DIR": str(tmp_path / "cli-var"),
    }
    shown = CliRunner().invoke(cli, ["apps", "health"], env=env)
    assert shown.exit_code == 1
    assert (
        "oa\tunhealthy since 2026-11-30 12:30: 5 sends in a row refused with token error 40001"
        in shown.output
    )

    send_due(services)  # WeChat takes the same token again: sent, healthy, still no other fetch
    assert only_push(db).status == "sent"
    assert token_fetches(sandbox) == 2
    assert health_of(db, services).healthy
    assert CliRunner().invoke(cli, ["apps", "health"], env=env).exit_code == 0
