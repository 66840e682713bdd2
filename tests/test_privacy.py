"""The users' rights through the privacy domain: export, correction, deletion, withdrawal, cancellation with
its review period, the 15-day tracking of requests, the unsubscribe rule, the minimum age, audit."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from jobs.cancellations import run_cancellations
from tests.privacy_helpers import make_person
from wxbot.clock import FrozenClock
from wxbot.errors import DomainError
from wxbot.models import Account, AuditEntry, Consent, Identity, PrivacyRequest
from wxbot.privacy import access, age, cancellation, consent, corrections, deletions, unsubscribe, withdrawals
from wxbot.privacy import registry as rights
from wxbot.privacy import requests as privacy_requests


@pytest.fixture
def notes_module(monkeypatch):
    """A module that stores per-user data and registers with the rights registry, like 留言 or events do."""
    store: dict[int, dict] = {}

    def export(session, account_id):
        return store.get(account_id, {"notes": []})

    def erase(session, account_id):
        return {"notes": len(store.pop(account_id, {"notes": []})["notes"])}

    def delete_notes(session, account_id):
        entry = store.setdefault(account_id, {"notes": []})
        count, entry["notes"] = len(entry["notes"]), []
        return count

    def correct(session, account_id, fields):
        if fields.get("school") == "":
            raise rights.InvalidCorrection("school", "不能为空")
        store.setdefault(account_id, {"notes": []}).update(fields)
        return sorted(fields)

    monkeypatch.setitem(rights.declared(), "notes", rights.DataDeclaration(
        "notes", export, erase, deletions={"notes": delete_notes}, correctable=("school",), correct=correct))  # fmt: skip
    return store


def _audit(db, action):
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_export_has_the_account_and_every_registered_module(db, services, clock, notes_module):
    account, follower, mp_user = make_person(db, services)
    notes_module[account.id] = {"notes": ["面试时间？"]}
    data = access.export_account(db, services.pii, account.id, actor="user", channel="miniprogram")
    db.commit()
    assert data["account"]["phone"] == "138****5678"
    assert {i["app"] for i in data["modules"]["identity"]["identities"]} == {"oa", "mp"}
    assert {c["kind"] for c in data["account"]["consents"]} == {"privacy_policy", "phone", "status_reminders"}
    assert {m.name for m in rights.modules()} <= set(data["modules"])
    assert data["modules"]["notes"] == {"notes": ["面试时间？"]}
    (entry,) = _audit(db, "account.export")
    assert entry.subject_id == str(account.id) and "1381234" not in entry.detail
    (request,) = db.scalars(select(PrivacyRequest).where(PrivacyRequest.kind == "export"))
    assert request.status == "completed" and request.due_at == request.requested_at + timedelta(days=15)


def test_correction_is_all_or_nothing_and_tracked(db, services, notes_module):
    account, _, _ = make_person(db, services)
    assert corrections.correctable_fields()["notes"] == ["school"]  # beside the other modules' fields
    changed = corrections.correct_profile(db, account.id, {"notes": {"school": "北京大学"}}, actor="user",
                                      channel="miniprogram")  # fmt: skip
    assert changed == {"notes": ["school"]} and notes_module[account.id]["school"] == "北京大学"
    with pytest.raises(DomainError, match="不能在这里更正"):
        corrections.correct_profile(
            db, account.id, {"notes": {"phone": "1"}}, actor="user", channel="miniprogram"
        )
    with pytest.raises(DomainError):
        corrections.correct_profile(db, account.id, {"nobody": {"x": 1}}, actor="user", channel="miniprogram")
    with pytest.raises(rights.InvalidCorrection):
        corrections.correct_profile(
            db, account.id, {"notes": {"school": ""}}, actor="user", channel="miniprogram"
        )
    assert [e.detail for e in _audit(db, "profile.correct")] == ["fields: notes.school"]


def test_deletion_goes_through_the_registering_module(db, services, notes_module):
    account, _, _ = make_person(db, services)
    notes_module[account.id] = {"notes": ["a", "b"]}
    assert "notes" in deletions.deletable()
    assert deletions.delete_data(db, account.id, "notes", actor="user", channel="miniprogram") == 2
    assert notes_module[account.id]["notes"] == []
    with pytest.raises(DomainError, match="不能在这里删除"):
        deletions.delete_data(db, account.id, "everything", actor="user", channel="miniprogram")
    assert _audit(db, "data.delete")[0].detail == "notes: 2"


def test_requests_staff_must_answer_are_due_in_15_days_and_flagged_when_overdue(db, services, clock):
    account, _, _ = make_person(db, services)
    request = corrections.request_correction(db, account.id, "我的学校写错了", channel="official_account")
    db.commit()
    (open_one,) = privacy_requests.open_requests(db)
    assert open_one.id == request.id and not open_one.overdue
    assert open_one.due_at == clock.current + timedelta(days=15)
    assert privacy_requests.request_counts(db) == {"pending": 1, "overdue": 0}
    clock.advance(days=15, minutes=1)
    assert privacy_requests.open_requests(db)[0].overdue
    assert privacy_requests.request_counts(db) == {"pending": 1, "overdue": 1}
    assert [r.id for r in privacy_requests.open_requests(db, only_overdue=True)] == [request.id]
    assert privacy_requests.request_message(db, request.id, actor="admin:1") == "我的学校写错了"
    privacy_requests.close_request(db, request.id, actor="admin:1")
    assert privacy_requests.open_requests(db) == []
    assert {e.action for e in db.scalars(select(AuditEntry))} >= {
        "privacy_request.view",
        "privacy_request.completed",
    }
    with pytest.raises(DomainError):
        corrections.request_correction(db, account.id, "x" * 1001, channel="miniprogram")


def test_withdrawal_takes_effect_at_once_for_the_whole_person(db, services, monkeypatch):
    account, follower, mp_user = make_person(db, services)
    stopped = []
    listener = lambda session, account_id, identity_id, scope: stopped.append(account_id)  # noqa: E731
    monkeypatch.setitem(rights.declared(), "listener", rights.DataDeclaration(
        "listener", lambda s, a: {}, lambda s, a: {}, withdrawals={"status_reminders": listener}))  # fmt: skip
    # given on the official account, withdrawn from the mini program's account: the same person
    assert consent.is_given(db, kind="status_reminders", account_id=account.id)
    assert (
        withdrawals.withdraw_consent(db, account.id, "status_reminders", actor="user", channel="miniprogram")
        == 1
    )
    assert stopped == [account.id]
    assert not consent.is_given(db, kind="status_reminders", identity_id=follower.id)
    assert consent.is_given(
        db, kind="privacy_policy", account_id=account.id, policy_version=consent.POLICY_VERSION
    )
    with pytest.raises(DomainError):
        withdrawals.withdraw_consent(db, account.id, "everything", actor="user", channel="miniprogram")
    with pytest.raises(ValueError):
        consent.withdraw(db, kind="status_reminders")


def test_cancellation_erases_everything_after_the_review_period_and_nothing_before(
    db, services, clock, notes_module
):
    account, follower, mp_user = make_person(db, services)
    other, _, _ = make_person(db, services, phone="13900001111")
    notes_module[account.id] = {"notes": ["x"]}
    request = cancellation.request_cancellation(db, account.id, review_days=7, channel="miniprogram")
    assert (
        cancellation.request_cancellation(db, account.id, review_days=7, channel="miniprogram").id
        == request.id
    )
    db.commit()
    assert request.effective_at == clock.current + timedelta(days=7)

    clock.advance(days=7, seconds=-1)
    assert run_cancellations(services) == 0
    db.expire_all()
    assert db.get(Account, account.id).phone_enc is not None and notes_module[account.id]["notes"] == ["x"]
    db.rollback()  # on SQLite a reading session holds the write lock the job needs

    clock.advance(seconds=1)
    assert run_cancellations(services) == 1
    assert run_cancellations(services) == 0
    db.expire_all()
    erased = db.get(Account, account.id)
    assert (erased.status, erased.phone_enc, erased.phone_hash, erased.platform_account_id) == (
        "cancelled",
        None,
        None,
        None,
    )
    for identity in (db.get(Identity, follower.id), db.get(Identity, mp_user.id)):
        assert identity.account_id is None and identity.unionid is None
        assert identity.openid.startswith("erased-")
    assert db.scalars(select(Consent).where(Consent.account_id == account.id)).all() == []
    assert account.id not in notes_module
    assert db.get(PrivacyRequest, request.id).status == "completed"
    assert {e.action for e in db.scalars(select(AuditEntry))} >= {"account.erase", "identity.unlink"}
    # the other person is untouched, and the erasure cannot be undone or revoked
    assert db.get(Account, other.id).phone_enc is not None
    with pytest.raises(DomainError):
        cancellation.revoke_cancellation(db, account.id, actor="user")
    with pytest.raises(DomainError):
        access.export_account(db, services.pii, account.id, actor="user", channel="miniprogram")


def test_a_revoked_cancellation_erases_nothing(db, services, clock):
    account, _, _ = make_person(db, services)
    cancellation.request_cancellation(db, account.id, review_days=3, channel="miniprogram")
    db.commit()
    clock.advance(days=1)
    revoked = cancellation.revoke_cancellation(db, account.id, actor="user")
    db.commit()
    assert revoked.status == "revoked"
    clock.advance(days=30)
    db.rollback()
    assert run_cancellations(services) == 0
    db.expire_all()
    assert db.get(Account, account.id).status == "active" and db.get(Account, account.id).phone_enc
    with pytest.raises(ValueError):
        cancellation.request_cancellation(db, account.id, review_days=16, channel="miniprogram")


def test_unsubscribe_forgets_what_is_no_longer_needed(db, services, clock):
    _, linked_follower, _ = make_person(db, services)
    _, lone_follower, _ = make_person(db, services, phone="13900002222", linked=False)
    for follower in (linked_follower, lone_follower):
        follower.subscribed, follower.unsubscribed_at = False, clock.current
        unsubscribe.on_unsubscribe(db, follower)
    db.commit()
    assert lone_follower.unionid is None and lone_follower.subscribe_scene is None
    assert linked_follower.unionid is not None  # still the link to the person's account


def test_check_age(clock):
    clock.set(clock.current.replace(year=2026, month=6, day=1))
    age.check_age(birth_year=2010, graduation_year=2031, age=16)  # 16 this year; graduating at 21
    for refused in ({"birth_year": 2011}, {"age": 15}, {"graduation_year": 2033},
                    {"birth_date": date(2010, 6, 2)}):  # fmt: skip
        with pytest.raises(age.UnderAgeError, match="未满16周岁"):
            age.check_age(**refused)
    age.check_age(birth_date=date(2010, 6, 1))
    for invalid in (
        {"birth_year": 1800},
        {"age": -1},
        {"graduation_year": 2099},
        {"birth_date": date(2027, 1, 1)},
    ):
        with pytest.raises(DomainError, match="不正确") as caught:
            age.check_age(**invalid)
        assert caught.value.code == "invalid_age"


def test_revealing_a_phone_is_audited_without_the_number(db, services):
    account, _, _ = make_person(db, services)
    assert access.reveal_phone(db, services.pii, account.id, actor="admin:7") == "13812345678"
    (entry,) = _audit(db, "phone.reveal")
    assert entry.actor == "admin:7" and "5678" not in entry.detail


@given(
    birth_year=st.integers(min_value=1906, max_value=2026),
    graduation_year=st.integers(min_value=1946, max_value=2041),
)
def test_the_age_rule_refuses_exactly_the_known_minors(birth_year, graduation_year):
    frozen = FrozenClock(datetime(2026, 3, 1)).install()
    try:
        for value, minor in (
            ({"birth_year": birth_year}, 2026 - birth_year < 16),
            ({"graduation_year": graduation_year}, graduation_year - 22 > 2026 - 16),
        ):
            try:
                age.check_age(**value)
                assert not minor, value
            except age.UnderAgeError:
                assert minor, value
    finally:
        frozen.uninstall()
