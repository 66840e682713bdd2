"""The retention job: each data class purged by its module's rule after its configured period, counts
recorded per class (never content), a period without a rule made visible, once a day across processes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs import registered_jobs
from jobs.retention import run_retention
from tests.privacy_helpers import make_person
from wxbot.models import Identity, RetentionRun
from wxbot.privacy import registry, retention


def _replace_rule(monkeypatch, data_class, apply):
    """Register a rule for this test; monkeypatch puts back whatever was registered before, in its place."""
    rule = retention.RetentionRule(data_class, apply, "test")
    monkeypatch.setitem(registry.declared(), f"test-{data_class}", registry.DataDeclaration(
        f"test-{data_class}", lambda s, a: {}, lambda s, a: {}, retention=(rule,)))  # fmt: skip


@pytest.fixture
def push_records(monkeypatch):
    """A module's retention rule, as the 留言 module registers one for resolved conversations."""
    seen = []

    def purge(session, cutoff):
        seen.append(cutoff)
        return retention.Purged(deleted=3)

    _replace_rule(monkeypatch, "resolved_conversations", purge)
    return seen


def _runs(db):
    db.rollback()
    db.expire_all()  # rollback() outside a transaction keeps what the session loaded earlier
    return {r.data_class: r for r in db.scalars(select(RetentionRun))}


def test_each_data_class_is_purged_after_its_period_and_counted(
    db, services, clock, push_records, config_dict
):
    run_retention(services)
    assert push_records == [
        clock.current - timedelta(days=services.settings.retention.resolved_conversations_days)
    ]
    runs = _runs(db)
    assert (runs["resolved_conversations"].deleted, runs["resolved_conversations"].error) == (3, None)
    assert set(runs) >= {"inbound_messages", "resolved_conversations", "notifications", "login_sessions",
                         "event_signups", "unsubscribed_followers"}  # fmt: skip
    # a configured period with no module rule is recorded, not silently skipped
    assert all(run.error in (None, "no_rule") for run in runs.values())


def test_it_runs_once_a_day_whichever_process_asks(db, services, clock, push_records):
    run_retention(services)
    clock.advance(hours=12)
    assert run_retention(services) == {}
    clock.advance(hours=12)
    run_retention(services)
    assert len(push_records) == 2


def test_a_failing_rule_is_recorded_and_the_others_still_run(db, services, clock, push_records, monkeypatch):
    def broken(session, cutoff):
        raise RuntimeError("boom 13812345678")

    _replace_rule(monkeypatch, "inbound_messages", broken)
    run_retention(services)
    runs = _runs(db)
    assert runs["inbound_messages"].error == "RuntimeError"
    assert runs["resolved_conversations"].deleted == 3


def test_unsubscribed_followers_are_anonymised_after_the_period(db, services, clock):
    _, lone, _ = make_person(db, services, linked=False)
    _, recent, _ = make_person(db, services, phone="13900003333", linked=False)
    _, linked, _ = make_person(db, services, phone="13900004444")
    days = services.settings.retention.unsubscribed_followers_days
    for follower, left in ((lone, days + 1), (recent, days - 1), (linked, days + 1)):
        follower.subscribed, follower.unsubscribed_at = False, clock.current - timedelta(days=left)
    db.commit()
    run_retention(services)
    assert _runs(db)["unsubscribed_followers"].anonymised == 1
    assert db.get(Identity, lone.id).openid.startswith("erased-")
    assert not db.get(Identity, recent.id).openid.startswith("erased-")
    assert not db.get(Identity, linked.id).openid.startswith("erased-")


def test_the_job_is_registered():
    assert {"retention", "cancellations"} <= {j.name for j in registered_jobs()}
    assert all(j.singleton for j in registered_jobs() if j.name in ("retention", "cancellations"))


def test_finished_push_records_are_purged_after_their_period(db, services, clock):
    from wxbot.models.outbox import Notification
    from wxbot.push.enqueue import PushContent, enqueue

    account, _, _ = make_person(db, services)
    old_sent = enqueue(
        db, purpose="test", account_id=account.id, content=PushContent(text="旧的"), channels=("custom",)
    )
    old_pending = enqueue(
        db, purpose="test", account_id=account.id, content=PushContent(text="待发"), channels=("custom",)
    )
    old_sent.status, old_sent.next_attempt_at = "sent", None
    db.commit()
    clock.advance(days=services.settings.retention.notifications_days, seconds=1)
    recent = enqueue(
        db, purpose="test", account_id=account.id, content=PushContent(text="新的"), channels=("custom",)
    )
    recent.status, recent.next_attempt_at = "sent", None
    db.commit()
    run_retention(services)
    assert _runs(db)["notifications"].deleted == 1
    assert sorted(db.scalars(select(Notification.id))) == sorted([old_pending.id, recent.id])
    db.rollback()
