"""Malformed input to every mini-program and binding endpoint: always a 4xx with the error shape, nothing written,
WeChat never asked."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import platform_post
from tests.mp_helpers import bearer, row_counts
from wxbot.identity import identities, logins

FIELDS = ["code", "consent", "encrypted_data", "iv", "token", "account_id", "phone", "official_account", "x"]
# Strings no endpoint accepts where it wants a code, token, base64 data or phone number.
bad_strings = st.one_of(
    st.just(""),
    st.text(max_size=20).map(lambda s: s + " !"),
    st.text(alphabet="ab", min_size=200, max_size=300),
    st.text(alphabet="微信\x00\n", min_size=1, max_size=10),
)
bad_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), bad_strings,
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)  # fmt: skip
json_objects = st.dictionaries(st.sampled_from(FIELDS), bad_values, max_size=5)
json_non_objects = st.one_of(st.lists(bad_values, max_size=3), bad_values)
raw_bodies = st.one_of(
    json_objects.map(lambda d: json.dumps(d).encode()),
    json_non_objects.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
    st.just(b'{"code": '),
)

MP_ENDPOINTS = ["/mp/mp/login", "/mp/mp/phone", "/mp/mp/bind"]
PLATFORM_ENDPOINTS = ["/platform/accounts", "/platform/bind-qr"]


@pytest.fixture
def linked_token(db, services):
    """A logged-in, linked mini-program user, so the guarded endpoints get as far as reading the body."""
    identity = identities.upsert_identity(
        db, app_name="mp", appid="wxmp000000000001", kind="miniprogram", openid="o1"
    )
    identities.link_by_phone(db, services.pii, identity, "13800138000", actor="test")
    token, _ = logins.start(db, identity, ttl_seconds=3600)
    db.commit()
    return token


def assert_refused(response):
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True))
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(MP_ENDPOINTS),
    raw=raw_bodies,
    content_type=st.sampled_from(["application/json", "text/plain"]),
)
def test_malformed_mini_program_bodies(client, db, sandbox, linked_token, path, raw, content_type):
    before = row_counts(db)
    answer = client.post(path, data=raw, content_type=content_type, headers=bearer(linked_token))
    assert_refused(answer)
    assert row_counts(db) == before
    assert sandbox.calls() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PLATFORM_ENDPOINTS), raw=raw_bodies)
def test_malformed_platform_bodies(client, db, sandbox, path, raw):
    before = row_counts(db)
    assert_refused(platform_post(client, path, raw))
    assert row_counts(db) == before
    assert sandbox.calls() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(
        [
            ("GET", "/mp/mp/me"),
            ("DELETE", "/mp/mp/me/link"),
            ("POST", "/mp/mp/logout"),
            ("POST", "/mp/mp/phone"),
            ("POST", "/mp/mp/bind"),
        ]
    ),  # fmt: skip
    authorization=st.one_of(st.text(max_size=60), st.text(max_size=60).map(lambda s: "Bearer " + s)),
)
def test_malformed_tokens(client, db, linked_token, endpoint, authorization):
    method, path = endpoint
    before = row_counts(db)
    try:
        answer = client.open(path, method=method, headers={"Authorization": authorization}, json={})
    except ValueError:  # header values with newlines cannot even be sent
        return
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "invalid_token"
    assert row_counts(db) == before
