"""The legacy encryptedData decrypt, against WeChat's published sample (open-ability/signature docs)."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.mp_helpers import encrypt_user_data
from wxbot.wechat.wxa_crypto import (
    CLOCK_SKEW_SECONDS,
    MalformedData,
    StaleSessionKey,
    StaleWatermark,
    WrongApp,
    check_watermark_age,
    decrypt_user_data,
)

SAMPLE_APPID = "wx4f4bc4dec97d474b"
SAMPLE_SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
SAMPLE_IV = "r7BXXKkLb8qrSNn05n0qiA=="
SAMPLE_DATA = (
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4l"
    "GOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNl"
    "xuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7"
    "Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQl"
    "VsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)


def random_b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def test_published_sample_decrypts_and_its_watermark_matches():
    data = decrypt_user_data(SAMPLE_APPID, SAMPLE_SESSION_KEY, SAMPLE_DATA, SAMPLE_IV)
    assert data["openId"] == "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
    assert data["watermark"] == {"timestamp": 1477314187, "appid": SAMPLE_APPID}


def test_sample_for_another_app_is_refused():
    with pytest.raises(WrongApp):
        decrypt_user_data("wxmp000000000001", SAMPLE_SESSION_KEY, SAMPLE_DATA, SAMPLE_IV)


def test_another_session_key_is_stale():
    with pytest.raises(StaleSessionKey):
        decrypt_user_data(SAMPLE_APPID, random_b64(16), SAMPLE_DATA, SAMPLE_IV)


@pytest.mark.parametrize(
    ("encrypted_data", "iv", "field"),
    [
        ("not base64!", SAMPLE_IV, "encrypted_data"),
        ("", SAMPLE_IV, "encrypted_data"),
        (random_b64(15), SAMPLE_IV, "encrypted_data"),
        ("A" * 5000, SAMPLE_IV, "encrypted_data"),
        (SAMPLE_DATA, "short", "iv"),
        (SAMPLE_DATA, random_b64(8), "iv"),
    ],
)
def test_malformed_input_names_the_field(encrypted_data, iv, field):
    with pytest.raises(MalformedData) as caught:
        decrypt_user_data(SAMPLE_APPID, SAMPLE_SESSION_KEY, encrypted_data, iv)
    assert caught.value.field == field


@given(blocks=st.integers(1, 8), iv=st.binary(min_size=16, max_size=16))
def test_random_ciphertext_never_escapes_as_another_error(blocks, iv):
    ciphertext = base64.b64encode(os.urandom(16 * blocks)).decode()
    with pytest.raises((StaleSessionKey, WrongApp)):
        decrypt_user_data(SAMPLE_APPID, SAMPLE_SESSION_KEY, ciphertext, base64.b64encode(iv).decode())


def test_round_trip_with_our_own_payload():
    key, iv = random_b64(16), random_b64(16)
    payload = {
        "purePhoneNumber": "13800138000",
        "countryCode": "86",
        "watermark": {"appid": "wxmp1", "timestamp": 1},
    }
    assert decrypt_user_data("wxmp1", key, encrypt_user_data(key, iv, payload), iv) == payload


@given(issued=st.one_of(st.integers(-(2**40), 2**40), st.none(), st.text(max_size=5), st.booleans(), st.floats()),
       max_age=st.integers(60, 10**7))  # fmt: skip
def test_a_watermark_is_taken_only_within_its_age_and_the_clock_skew(issued, max_age):
    now = 1_800_000_000
    data = {"watermark": {"appid": "wxmp1", "timestamp": issued}}
    fresh = type(issued) is int and now - max_age <= issued <= now + CLOCK_SKEW_SECONDS
    try:
        check_watermark_age(data, now=now, max_age_seconds=max_age)
    except StaleWatermark:
        assert not fresh
    else:
        assert fresh
