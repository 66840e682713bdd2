"""Signature v2 of the platform API (docs/platform.md), through signed HTTP: one use per nonce, bound to the
method and the path with its query, ASCII timestamps, the body cap for chunked bodies too."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import re
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import PLATFORM_SECRET
from tests.events_helpers import event_payload
from tests.helpers import platform_headers, platform_post
from wxbot import clock as clock_module
from wxbot.models.campus import Event
from wxbot.platform import MAX_BODY_BYTES, sign

DOC = Path(__file__).resolve().parent.parent / "docs" / "platform.md"
EXAMPLE = {
    "secret": "Kq3vW9xZ2mB7nR4tY8pL1sD6fG0hJ5cA",
    "timestamp": 1764670000,
    "nonce": "n0nce-EXAMPLE_0123456789",
    "method": "POST",
    "path": "/platform/events?source=docs",
    "body": b'{"event_id":"EV1","version":7}',
}
EXAMPLE_SIGNATURE = "sha256=c016060b4f0ee3ed92bb4fb1d82a83f4ea1569e289e1f764f739fefaa79be9fc"


def error_of(response):
    return response.status_code, response.get_json()["error"]["code"]


def stored_venue(db, event_id="ev-1"):
    """The event's venue as stored now; the read ends its transaction (SQLite: it holds the write lock)."""
    db.expire_all()
    event = db.scalar(select(Event).where(Event.external_id == event_id))
    venue = None if event is None else event.venue
    db.rollback()
    return venue


# ---------------------------------------------------------------- the documented example


def test_the_documented_example_signs_as_the_server_does():
    doc = DOC.read_text(encoding="utf-8")
    assert EXAMPLE_SIGNATURE in doc
    for value in ("secret", "nonce", "path"):
        assert f"`{EXAMPLE[value]}`" in doc
    assert f"`{EXAMPLE['body'].decode()}`" in doc and f"`{EXAMPLE['timestamp']}`" in doc
    assert sign(EXAMPLE["secret"], EXAMPLE["timestamp"], EXAMPLE["nonce"], EXAMPLE["method"], EXAMPLE["path"],
                EXAMPLE["body"]) == EXAMPLE_SIGNATURE  # fmt: skip


def test_the_documented_client_signs_the_example():
    block = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block is not None
    client: dict = {}
    exec(block.group(1), client)  # the doc's own code, so that it cannot drift from the server
    headers = client["signed_headers"](EXAMPLE["secret"], EXAMPLE["method"], EXAMPLE["path"], EXAMPLE["body"],
                                       timestamp=EXAMPLE["timestamp"], nonce=EXAMPLE["nonce"])  # fmt: skip
    assert headers == {"X-Wxbot-Timestamp": "1764670000", "X-Wxbot-Nonce": EXAMPLE["nonce"],
                       "X-Wxbot-Signature": EXAMPLE_SIGNATURE}  # fmt: skip
    fresh = client["signed_headers"]("s", "GET", "/platform/x", b"")
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,64}", fresh["X-Wxbot-Nonce"])


@pytest.fixture
def example_secret(config_dict):
    """The app of the test signs with the example's secret (requested before `client`, so it applies)."""
    config_dict["platform"]["secret"] = EXAMPLE["secret"]


def test_the_documented_example_is_accepted_over_http(
    example_secret, platform_openapi_checked, client, clock
):
    from datetime import UTC, datetime

    clock.set(datetime.fromtimestamp(EXAMPLE["timestamp"], UTC).replace(tzinfo=None))
    headers = {"X-Wxbot-Timestamp": str(EXAMPLE["timestamp"]), "X-Wxbot-Nonce": EXAMPLE["nonce"],
               "X-Wxbot-Signature": EXAMPLE_SIGNATURE, "Content-Type": "application/json"}  # fmt: skip
    response = client.post(EXAMPLE["path"], data=EXAMPLE["body"], headers=headers)
    # Past the signature: the example's body is not a whole event, so the route names what is missing.
    assert error_of(response) == (400, "invalid_field")
    assert error_of(client.post(EXAMPLE["path"], data=EXAMPLE["body"], headers=headers)) == (409, "replayed")
    assert platform_openapi_checked == []  # both answers as the platform's OpenAPI document says


# ---------------------------------------------------------------- one use only


def test_a_replayed_request_is_refused_and_changes_nothing(client, db, clock):
    raw = json.dumps(event_payload(venue="主楼报告厅")).encode()
    headers = {**platform_headers("POST", "/platform/events", raw), "Content-Type": "application/json"}
    assert client.post("/platform/events", data=raw, headers=headers).status_code == 201
    assert platform_post(client, "/platform/events", event_payload(venue="新体育馆")).status_code == 200
    replay = client.post("/platform/events", data=raw, headers=headers)
    assert error_of(replay) == (409, "replayed")
    assert stored_venue(db) == "新体育馆"


def test_a_nonce_is_used_up_only_by_a_verified_request(client, clock):
    nonce = "guessed-nonce-0123456789"
    wrong = platform_post(client, "/platform/events", event_payload(), secret="not-the-secret", nonce=nonce)
    assert error_of(wrong) == (401, "bad_signature")
    assert platform_post(client, "/platform/events", event_payload(), nonce=nonce).status_code == 201
    assert error_of(platform_post(client, "/platform/events", event_payload(), nonce=nonce)) == (
        409,
        "replayed",
    )


def test_a_nonce_is_remembered_for_twice_the_window(client, services):
    settings = services.settings.platform
    remembered = []
    real_add = services.cache.add

    def spy(key, value, ttl):
        remembered.append((key, ttl))
        return real_add(key, value, ttl)

    services.cache.add = spy
    try:
        platform_post(client, "/platform/events", event_payload(), nonce="remembered-nonce-000001")
    finally:
        services.cache.add = real_add
    assert ("platform-nonce:remembered-nonce-000001", 2 * settings.max_age_seconds) in remembered


@pytest.mark.parametrize(
    "nonce",
    [
        "short-nonce-15c",
        "x" * 65,
        "has space in it 0123",
        "有中文的一次性随机数随机数随机数",
        "a.b.c.d.e.f.g.h.i",
    ],
)
def test_a_malformed_nonce_is_refused(client, nonce):
    response = platform_post(client, "/platform/events", event_payload(),
                             nonce=nonce.encode().decode("latin-1"))  # fmt: skip
    assert error_of(response) == (401, "bad_nonce")


# ---------------------------------------------------------------- bound to the method and the path


@pytest.fixture
def event(client, clock):
    assert platform_post(client, "/platform/events", event_payload()).status_code == 201


def test_the_signature_of_one_events_get_does_not_fetch_its_attendees(client, event):
    headers = platform_headers("GET", "/platform/events/ev-1", b"")
    assert client.get("/platform/events/ev-1", headers=headers).status_code == 200
    aimed = client.get(
        "/platform/events/ev-1/attendees.csv", headers=platform_headers("GET", "/platform/events/ev-1", b"")
    )
    assert error_of(aimed) == (401, "bad_signature")


@pytest.mark.parametrize(
    ("signed_method", "signed_path", "method", "path"),
    [
        ("GET", "/platform/events/ev-1", "GET", "/platform/events/ev-2"),
        ("GET", "/platform/events/ev-1", "GET", "/platform/events/ev-1?x=1"),
        ("GET", "/platform/events/ev-1?x=1", "GET", "/platform/events/ev-1?x=2"),
        ("GET", "/platform/events/ev-1", "HEAD", "/platform/events/ev-1"),
        ("POST", "/platform/checkin", "POST", "/platform/events"),
    ],
)
def test_a_signature_aimed_elsewhere_is_refused(client, event, signed_method, signed_path, method, path):
    raw = json.dumps(event_payload()).encode() if method != "GET" and method != "HEAD" else b""
    headers = {**platform_headers(signed_method, signed_path, raw), "Content-Type": "application/json"}
    response = client.open(path, method=method, data=raw, headers=headers)
    assert response.status_code == 401
    if method != "HEAD":
        assert response.get_json()["error"]["code"] == "bad_signature"


def test_the_query_string_is_signed_as_sent(client, event):
    response = platform_post(client, "/platform/events/ev-1?include=counts&x=%E4%B8%AD", b"", method="GET")
    assert response.status_code == 200


def test_without_a_raw_uri_the_path_and_query_are_used(client, event):
    headers = platform_headers("GET", "/platform/events/ev-1?a=1", b"")
    bare = {"RAW_URI": "", "REQUEST_URI": ""}
    assert client.get("/platform/events/ev-1?a=1", headers=headers, environ_overrides=bare).status_code == 200
    again = platform_headers("GET", "/platform/events/ev-1", b"")
    aimed = client.get("/platform/events/ev-1?a=1", headers=again, environ_overrides=bare)
    assert error_of(aimed) == (401, "bad_signature")


# ---------------------------------------------------------------- the old scheme, timestamps


def old_scheme(ts, raw):
    mac = hmac.new(PLATFORM_SECRET.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
    return {
        "X-Wxbot-Timestamp": str(ts),
        "X-Wxbot-Signature": "sha256=" + mac,
        "Content-Type": "application/json",
    }


def test_the_old_signature_is_refused(client, db):
    raw = json.dumps(event_payload()).encode()
    ts = clock_module.timestamp()
    assert error_of(client.post("/platform/events", data=raw, headers=old_scheme(ts, raw))) == (
        401,
        "unsigned",
    )
    with_nonce = {**old_scheme(ts, raw), "X-Wxbot-Nonce": "added-nonce-0123456789"}
    assert error_of(client.post("/platform/events", data=raw, headers=with_nonce)) == (401, "bad_signature")
    assert db.scalar(select(Event)) is None


@pytest.mark.parametrize(
    "shape", ["²", "{ts}²", "²{ts}", "١٧٦٤٦٧٠٠٠٠", " {ts}", "-{ts}", "{ts}.0", "1e9", "0x10"]
)
def test_a_timestamp_that_is_not_ascii_digits_is_refused_never_a_500(client, db, shape):
    ts = shape.format(ts=clock_module.timestamp())
    raw = json.dumps(event_payload()).encode()
    for sent in {ts, ts.encode().decode("latin-1")}:  # as a test client and as a real server pass it on
        headers = {"X-Wxbot-Timestamp": sent, "X-Wxbot-Nonce": "nonce-for-timestamps-01",
                   "X-Wxbot-Signature": sign(PLATFORM_SECRET, sent, "nonce-for-timestamps-01", "POST",
                                             "/platform/events", raw)}  # fmt: skip
        response = client.post("/platform/events", data=raw, headers=headers)
        assert error_of(response) == (401, "bad_timestamp"), sent
    assert db.scalar(select(Event)) is None


# Digits of every script but ASCII's: Nd (١٢٣, ５), No (², ①), Nl (Ⅻ); str.isdigit() takes some of them.
NON_ASCII_DIGITS = st.characters(categories=["Nd", "No", "Nl"]).filter(lambda c: not "0" <= c <= "9")


@hypothesis_settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(
    prefix=st.text("0123456789", max_size=10),
    digit=NON_ASCII_DIGITS,
    suffix=st.text("0123456789", max_size=10),
)
def test_a_non_ascii_digit_anywhere_in_a_timestamp_is_401(client, prefix, digit, suffix):
    sent = prefix + digit + suffix
    raw = json.dumps(event_payload()).encode()
    headers = {"X-Wxbot-Timestamp": sent, "X-Wxbot-Nonce": "nonce-for-timestamps-02",
               "X-Wxbot-Signature": sign(PLATFORM_SECRET, sent, "nonce-for-timestamps-02", "POST",
                                         "/platform/events", raw)}  # fmt: skip
    assert error_of(client.post("/platform/events", data=raw, headers=headers)) == (401, "bad_timestamp")


def test_a_timestamp_outside_the_window_is_refused(client, services, clock):
    max_age = services.settings.platform.max_age_seconds
    for delta in (max_age + 1, -(max_age + 1)):
        response = platform_post(
            client, "/platform/events", event_payload(), timestamp=clock_module.timestamp() - delta
        )
        assert error_of(response) == (401, "stale")
    assert platform_post(client, "/platform/events", event_payload(),
                         timestamp=clock_module.timestamp() - max_age).status_code == 201  # fmt: skip


# ---------------------------------------------------------------- the body cap, chunked too


def chunked(client, raw, *, path="/platform/events"):
    headers = {**platform_headers("POST", path, raw), "Content-Type": "application/json",
               "Transfer-Encoding": "chunked"}  # fmt: skip
    # What gunicorn and werkzeug's server hand the app for a chunked body: no length, a terminated stream.
    return client.post(path, input_stream=io.BytesIO(raw), headers=headers,
                       environ_overrides={"wsgi.input_terminated": True})  # fmt: skip


def test_a_chunked_body_over_the_cap_is_refused(client, db, clock):
    body = event_payload()
    body["title"] = "x" * MAX_BODY_BYTES
    response = chunked(client, json.dumps(body).encode())
    assert error_of(response) == (413, "too_large")
    assert db.scalar(select(Event)) is None


def test_a_chunked_body_under_the_cap_is_read_and_signed(client, db, clock):
    assert chunked(client, json.dumps(event_payload()).encode()).status_code == 201
    assert stored_venue(db) == "主楼报告厅"


def test_a_sized_body_over_the_cap_is_refused(client, clock):
    body = event_payload()
    body["title"] = "x" * MAX_BODY_BYTES
    assert error_of(platform_post(client, "/platform/events", body)) == (413, "too_large")


def test_a_chunked_body_over_the_cap_is_refused_by_a_real_server(app, clock):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = event_payload()
        body["title"] = "x" * (MAX_BODY_BYTES + 1024)
        raw = json.dumps(body).encode()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        headers = {**platform_headers("POST", "/platform/events", raw), "Content-Type": "application/json"}
        pieces = (raw[i : i + 16384] for i in range(0, len(raw), 16384))
        connection.request("POST", "/platform/events", body=pieces, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "too_large"
        connection.close()
    finally:
        server.shutdown()
        thread.join(5)
