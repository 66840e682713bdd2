"""/metrics: scraped after signed callbacks, a push run, WeChat's errors and jobs, with the series and counts
an operator's dashboard reads. Counters live for the whole test process, so each test compares a scrape
after with a scrape before; the state gauges (outbox, conversations, app health, quota) are absolute."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobs import Job, _guarded
from jobs.quota import sample_quotas
from jobs.sender import send_due
from tests.conftest import MP, OA
from tests.test_sender import NOON, Person, status_event
from tests.test_sender import config_dict as sender_config  # noqa: F401  (the status templates)
from tests.wechat_helpers import Follower
from wxbot.push.app_health import token_failed

TOKEN = "metrics-bearer-token-for-the-tests-0123456789"
TEMPLATE = "/cgi-bin/message/template/send"
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def config_dict(sender_config):  # noqa: F811
    sender_config["metrics"] = {"token": TOKEN}
    return sender_config


def scrape(client) -> Series:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    found: Series = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


def counted(client) -> Callable[..., float]:
    """change(name, **labels): how much a series grew since this call."""
    before = scrape(client)

    def change(name: str, **labels: str) -> float:
        return value(scrape(client), name, **labels) - value(before, name, **labels)

    return change


def test_metrics_need_the_bearer_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")


def test_without_a_token_production_serves_no_metrics(app, client, settings):
    settings.metrics.token = ""
    settings.app.environment = "production"  # as validated production settings with no token
    assert client.get("/metrics").status_code == 404


def test_signed_callbacks_are_counted_by_app_and_outcome(client):
    change = counted(client)
    follower = Follower(client)
    assert follower.send_text("帮助").content
    assert follower.redeliver().content  # WeChat's retry: answered as before
    assert not follower.event("VIEW", EventKey="https://example.com/").fields  # nothing to say: success
    assert follower.deliver("<xml/>", nonce="1", timestamp=1).status == 403  # an old timestamp
    assert change("wxbot_deliveries_stored_total", app="oa") == 2
    assert change("wxbot_duplicate_deliveries_total", app="oa", via="cache") == 1
    assert change("wxbot_callback_seconds_count", app="oa", outcome="replied") == 1
    assert change("wxbot_callback_seconds_count", app="oa", outcome="retried_copy") == 1
    assert change("wxbot_callback_seconds_count", app="oa", outcome="success") == 1
    assert change("wxbot_callback_seconds_count", app="oa", outcome="refused_403") == 1
    assert change("wxbot_callback_seconds_bucket", app="oa", outcome="replied", le="+Inf") == 1
    assert change("wxbot_router_rule_hits_total", handler="help_text") == 1
    assert client.post("/wechat/nope").status_code == 404
    assert change("wxbot_callback_seconds_count", app="unknown", outcome="refused_404") == 1


def test_a_failing_handler_is_counted(client):
    change = counted(client)

    def explodes(ctx):
        raise RuntimeError("boom")

    router = client.application.extensions["wxbot"].router
    router.add(lambda ctx: ctx.message.content == "炸", explodes, priority=1000)
    assert Follower(client).send_text("炸").content  # the apology
    assert change("wxbot_router_rule_hits_total", handler="explodes") == 1
    assert change("wxbot_handler_errors_total", handler="explodes") == 1


def test_a_push_run_is_counted_and_the_outbox_shown(client, services, db, sandbox, clock):
    clock.set(NOON)
    Person(db, sandbox)
    change = counted(client)
    status_event(client, "to_communicate")
    assert value(scrape(client), "wxbot_outbox_rows", status="pending", channel="none") == 1
    assert send_due(services).sent == 1
    assert change("wxbot_sends_total", channel="template", result="sent") == 1
    assert change("wxbot_wechat_api_calls_total", endpoint=TEMPLATE, errcode="0") == 1
    assert change("wxbot_wechat_api_seconds_count", endpoint=TEMPLATE) == 1
    assert change("wxbot_token_fetches_total", appid=OA["appid"], result="ok") == 1
    after = scrape(client)
    assert value(after, "wxbot_outbox_rows", status="sent", channel="template") == 1
    assert value(after, "wxbot_outbox_rows", status="pending", channel="none") == 0
    assert value(after, "wxbot_outbox_oldest_due_seconds") == 0
    assert value(after, "wxbot_state_up") == 1


def test_wechat_errors_are_counted_by_errcode_and_the_oldest_due_row_by_its_age(
    client, services, db, sandbox, clock
):
    clock.set(NOON)
    Person(db, sandbox)
    status_event(client, "to_communicate")
    change = counted(client)
    sandbox.inject(TEMPLATE, errcode=-1, times=1)
    send_due(services)
    assert change("wxbot_wechat_api_calls_total", endpoint=TEMPLATE, errcode="-1") == 1
    assert change("wxbot_sends_total", channel="template", result="retrying") == 1
    clock.advance(seconds=3600)  # the retry was due long ago and nothing sent it
    assert value(scrape(client), "wxbot_outbox_oldest_due_seconds") >= 3000


def test_token_errors_count_an_invalidation_and_a_fresh_fetch(client, services, db, sandbox, clock):
    clock.set(NOON)
    Person(db, sandbox)
    status_event(client, "to_communicate")
    services.wechat.tokens.get(OA["appid"])  # holds a token ...
    sandbox.expire_tokens(OA["appid"])  # ... that WeChat no longer takes
    change = counted(client)
    assert send_due(services).sent == 1
    assert change("wxbot_token_invalidations_total", appid=OA["appid"]) == 1
    assert change("wxbot_token_fetches_total", appid=OA["appid"], result="ok") == 1
    assert change("wxbot_wechat_api_calls_total", endpoint=TEMPLATE, errcode="42001") == 1


def test_quiet_hours_and_supersessions_are_counted(client, services, db, sandbox, clock):
    clock.set(NOON.replace(hour=15))  # 23:00 in Shanghai
    Person(db, sandbox)
    change = counted(client)
    status_event(client, "viewed", event="e1", application="a1")
    status_event(client, "interview", event="e2", application="a1")  # urgent; supersedes e1's push
    status_event(client, "viewed", event="e3", application="a2")
    send_due(services)
    assert change("wxbot_pushes_held_total", reason="superseded") == 1
    assert (
        change("wxbot_pushes_held_total", reason="quiet_hours") == 1
    )  # a2's; the interview goes out at once
    assert change("wxbot_sends_total", channel="template", result="sent") == 1


def test_conversations_and_app_health_are_shown(client, services, db, sandbox):
    follower = Follower(client)
    sandbox.set_follower(OA["appid"], follower.openid)
    follower.send_text("留言")
    follower.send_text("请问面试什么时候通知？")
    series = scrape(client)
    assert value(series, "wxbot_conversations", state="open") == 1
    assert value(series, "wxbot_conversations", state="window_closing") == 0  # 48 hours left
    assert value(series, "wxbot_app_healthy", app="oa") == 1
    for _ in range(services.settings.wechat.unhealthy_after_token_failures):
        token_failed(db, services.settings, "oa", 40001, NOON)
    db.commit()
    assert value(scrape(client), "wxbot_app_healthy", app="oa") == 0


def test_quota_is_sampled_from_wechat_into_the_metrics(client, services, db, sandbox, clock):
    clock.set(NOON)
    Person(db, sandbox)
    status_event(client, "to_communicate")
    send_due(services)
    sample_quotas(services)
    series = scrape(client)
    assert value(series, "wxbot_quota_daily_limit", appid=OA["appid"], api=TEMPLATE) == 100_000
    assert value(series, "wxbot_quota_remaining", appid=OA["appid"], api=TEMPLATE) == 99_999
    assert (
        value(series, "wxbot_quota_remaining", appid=MP["appid"], api="/cgi-bin/message/subscribe/send")
        == 10_000_000
    )
    (call, *_) = sandbox.calls("/cgi-bin/openapi/quota/get")
    assert call.body == {"cgi_path": TEMPLATE}


def test_job_runs_durations_and_failures_are_counted(client, services):
    change = counted(client)

    def fails(_services):
        raise RuntimeError("boom")

    _guarded(services, Job("metrics-ok", lambda s: None, seconds=60))()
    _guarded(services, Job("metrics-fails", fails, seconds=60))()
    token = services.cache.try_lock("job:metrics-held", ttl=60)  # another process runs it
    _guarded(services, Job("metrics-held", lambda s: None, seconds=60))()
    services.cache.release("job:metrics-held", token)
    assert change("wxbot_job_runs_total", job="metrics-ok", result="ok") == 1
    assert change("wxbot_job_runs_total", job="metrics-fails", result="failed") == 1
    assert change("wxbot_job_runs_total", job="metrics-held", result="skipped") == 1
    assert change("wxbot_job_seconds_count", job="metrics-ok") == 1


def test_a_callback_that_fails_unexpectedly_is_counted_as_an_error(client, monkeypatch):
    from wxbot.callback import inbound

    def fails(*args, **kwargs):
        raise RuntimeError("a bug")

    change = counted(client)
    monkeypatch.setattr(inbound, "receive", fails)
    assert Follower(client).send_text("帮助").status == 500
    assert change("wxbot_callback_seconds_count", app="oa", outcome="error") == 1
