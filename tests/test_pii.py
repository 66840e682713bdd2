"""Personal data at rest: authenticated encryption, key rotation, tampering, keyed hashes, masking."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxbot.privacy.pii import PiiError, PiiKeys, mask_id_number, mask_identifier, mask_phone, normalise_phone

OLD, NEW, HASH = os.urandom(32), os.urandom(32), os.urandom(32)


@given(st.text(max_size=200))
def test_round_trip(plaintext):
    keys = PiiKeys([OLD], HASH)
    token = keys.encrypt(plaintext)
    assert keys.decrypt(token) == plaintext
    assert len(plaintext) < 8 or plaintext not in token


def test_each_encryption_is_fresh():
    keys = PiiKeys([OLD], HASH)
    assert keys.encrypt("13812345678") != keys.encrypt("13812345678")


def test_rotation_old_key_still_decrypts_and_reencrypt_needs_only_the_newest():
    before = PiiKeys([OLD], HASH)
    token = before.encrypt("13812345678")
    rotated = PiiKeys([NEW, OLD], HASH)
    assert rotated.decrypt(token) == "13812345678"
    assert not rotated.is_current(token)
    fresh = rotated.reencrypt(token)
    assert fresh is not None and rotated.is_current(fresh)
    assert rotated.reencrypt(fresh) is None
    newest_only = PiiKeys([NEW], HASH)
    assert newest_only.decrypt(fresh) == "13812345678"
    with pytest.raises(PiiError, match="not configured"):
        newest_only.decrypt(token)


@pytest.mark.parametrize("position", [0, 3, 10, 20, -1])
def test_tampering_is_detected(position):
    keys = PiiKeys([OLD], HASH)
    blob = bytearray(base64.urlsafe_b64decode(keys.encrypt("13812345678")))
    blob[position] ^= 0x01
    with pytest.raises(PiiError):
        keys.decrypt(base64.urlsafe_b64encode(bytes(blob)).decode())


def test_a_ciphertext_under_another_key_with_a_forged_key_id_fails():
    mine, theirs = PiiKeys([OLD], HASH), PiiKeys([NEW], HASH)
    blob = bytearray(base64.urlsafe_b64decode(theirs.encrypt("13812345678")))
    blob[2:6] = base64.urlsafe_b64decode(mine.encrypt("x"))[2:6]
    with pytest.raises(PiiError, match="authentication"):
        mine.decrypt(base64.urlsafe_b64encode(bytes(blob)).decode())


@given(st.text(max_size=80))
def test_garbage_is_a_clear_error_never_a_crash(garbage):
    with pytest.raises(PiiError):
        PiiKeys([OLD], HASH).decrypt(garbage)


def test_keys_are_checked_and_never_shown():
    with pytest.raises(ValueError, match="32 bytes"):
        PiiKeys([b"short"], HASH)
    with pytest.raises(ValueError, match="twice"):
        PiiKeys([OLD, OLD], HASH)
    with pytest.raises(ValueError, match="hash key"):
        PiiKeys([OLD], b"")
    assert OLD.hex() not in repr(PiiKeys([OLD], HASH)) and "OLD" not in repr(PiiKeys([OLD], HASH))


def test_lookup_hash_is_keyed_and_separated_by_purpose():
    a, b = PiiKeys([OLD], HASH), PiiKeys([OLD], os.urandom(32))
    assert a.lookup_hash("13812345678") == PiiKeys([NEW], HASH).lookup_hash(
        "13812345678"
    )  # survives rotation
    assert a.lookup_hash("13812345678") != b.lookup_hash("13812345678")
    assert a.lookup_hash("13812345678") != a.lookup_hash("13812345678", purpose="id_number")


def test_masks():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("") == "" and mask_phone("1234") == "****"
    assert mask_id_number("11010119900307123X") == "110***********123X"
    assert mask_identifier("oLVPpjqs9BhvzwPj5A-vTYAX3GLc") == "oLVPp***"
    assert normalise_phone("+86 138-1234-5678") == "13812345678"
    with pytest.raises(ValueError):
        normalise_phone("12345")
