"""The masking of log records: every kind of personal data and secret, in messages, args, exceptions and
extras, whichever handler takes the record -- including one added after start-up (as gunicorn does)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxbot.logs import JsonFormatter, MaskingFilter, install_masking, mask_text

PHONE = "13812345678"
OPENID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
UNIONID = "o6_bmasdasdsad6_2sgVt7hMZOPfL"
ID_NUMBER = "11010119900307123X"

# (format, args, what must not appear, what must appear)
LINES = [
    ("phone bound: %s", (PHONE,), PHONE, "138****5678"),
    ("phone bound: +86 138-1234-5678", (), "1234-5678", "138****5678"),
    ("user %(phone)s", ({"phone": PHONE},), PHONE, "138****5678"),
    ("id number %s accepted", (ID_NUMBER,), ID_NUMBER, "110***********123X"),
    ("old id 110101900307123 seen", (), "110101900307123", "110********7123"),
    ("follower %s said hi", (OPENID,), OPENID, "oLVPp***"),
    ("unionid=%s linked", (UNIONID,), UNIONID, "o6_bm***"),
    ("payload %s", ({"openid": "o_short_test_id", "session_key": "SeSsIoNkEy=="},), "SeSsIoNkEy", "'***'"),
    ('json {"session_key": "abc/def+==", "unionid": "%s"}', (UNIONID,), "abc/def", '"session_key": "***"'),
    (
        "GET /sns/jscode2session?appid=wx1&secret=APPSECRET1&js_code=CODE123&grant_type=x",
        (),
        "APPSECRET1",
        "secret=***",
    ),
    (
        "GET /cgi-bin/user/info?access_token=ACCESS_TOKEN_1&openid=%s",
        (OPENID,),
        "ACCESS_TOKEN_1",
        "access_token=***",
    ),
    ("token refreshed: {'access_token': 'TOK_VALUE_9', 'expires_in': 7200}", (), "TOK_VALUE_9", "'***'"),
    ("header Authorization: Bearer eyJhbGciOi.abc.def", (), "eyJhbGciOi", "Bearer ***"),
    (
        "<xml><FromUserName><![CDATA[o_plain_test_user]]></FromUserName></xml>",
        (),
        "o_plain_test_user",
        "o_pla***",
    ),
    ("config appsecret=%s platform_secret=%s", ("s3cr3t-app", "pl4tf0rm"), "s3cr3t", "appsecret=***"),
    (
        '"POST /wechat/oa?signature=5e3b0a11f00d&timestamp=1&nonce=2&msg_signature=77aa0b HTTP/1.1" 200',
        (),
        "5e3b0a11f00d",
        "signature=***&timestamp=1&nonce=2&msg_signature=***",
    ),
]


@pytest.fixture
def late_handler():
    """A handler added to a logger after start-up, as gunicorn adds its own."""
    install_masking()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("gunicorn.error.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize(("fmt", "args", "secret", "shown"), LINES)
def test_each_kind_is_masked_in_a_late_handler(late_handler, fmt, args, secret, shown):
    logger, stream = late_handler
    logger.info(fmt, *args)
    line = stream.getvalue()
    assert secret not in line
    assert shown in line


@pytest.mark.parametrize(("fmt", "args", "secret", "shown"), LINES)
def test_each_kind_is_masked_in_caplog(caplog, fmt, args, secret, shown):
    install_masking()
    with caplog.at_level(logging.INFO):
        logging.getLogger("wxbot.test").warning(fmt, *args)
    assert secret not in caplog.text
    assert shown in caplog.text


def test_exception_text_and_stack_are_masked(late_handler):
    logger, stream = late_handler
    try:
        raise ValueError(f"cannot bind {PHONE} to {OPENID}")
    except ValueError:
        logger.exception("binding failed for %s", PHONE, stack_info=True)
    text = stream.getvalue()
    assert "ValueError" in text and "138****5678" in text
    assert PHONE not in text and OPENID not in text


def test_json_lines_are_masked_and_extras_too():
    install_masking()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("wxbot.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError(PHONE)
        except RuntimeError:
            logger.error("failed", exc_info=True, extra={"who": OPENID})
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert PHONE not in stream.getvalue()
    assert entry["message"] == "failed" and "138****5678" in entry["exc"]


def test_extras_are_masked_by_the_filter():
    record = logging.makeLogRecord({"msg": "x", "who": OPENID, "phone_number": PHONE})
    MaskingFilter().filter(record)
    assert record.who == "oLVPp***" and record.phone_number == "138****5678"


def test_ordinary_text_is_left_alone():
    text = "msgid 1234567890123456789 at 1764345600123; organiser_sharing_consent_withdrawn token_mode=stable"
    assert mask_text(text) == text


@given(st.text(max_size=120))
def test_masking_is_idempotent_and_never_crashes(text):
    once = mask_text(text)
    assert mask_text(once) == once


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", " ", ":", "tel", "电话"]))
def test_any_mobile_number_is_masked(phone, before):
    assert phone not in mask_text(f"{before}{phone} ok")


def test_a_bad_format_string_still_logs_masked(late_handler):
    logger, stream = late_handler
    logger.info("two args %s %s", PHONE)
    assert PHONE not in stream.getvalue() and "138****5678" in stream.getvalue()


def test_create_app_installs_the_masking(settings):
    from wxbot import create_app

    original = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)  # as in a fresh process
    try:
        create_app(settings).extensions["wxbot"].engine.dispose()
        record = logging.getLogger("gunicorn.access").makeRecord(
            "gunicorn.access", logging.INFO, __file__, 1, "GET /mp/mp/me?openid=%s", (OPENID,), None
        )
        assert record.getMessage() == "GET /mp/mp/me?openid=oLVPp***"
    finally:
        logging.setLogRecordFactory(original)
