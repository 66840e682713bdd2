"""Personal data at rest: authenticated encryption with rotating keys, keyed lookup hashes, masking.

Pure functions over bytes and strings; the keys come from settings ([security] pii_keys, hash_key).

Ciphertext format (URL-safe base64): b"v1" | key id (4 bytes) | nonce (12 bytes) | AES-256-GCM output.
The header (version and key id) is the associated data, so a ciphertext whose header was altered fails
authentication instead of being decrypted under another key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"v1"
_KEY_ID_LEN = 4
_NONCE_LEN = 12
_HEADER_LEN = len(_VERSION) + _KEY_ID_LEN
_TAG_LEN = 16


class PiiError(ValueError):
    """A ciphertext that cannot be decrypted: malformed, tampered with, or under a key no longer configured."""


class PiiKeys:
    """The newest key encrypts; every key decrypts. A ciphertext names its key by a short fingerprint."""

    def __init__(
        self, keys: list[bytes], hash_key: bytes, retired_hash_keys: list[bytes] | None = None
    ) -> None:
        if not keys:
            raise ValueError("at least one PII key is needed")
        if any(len(k) != 32 for k in keys):
            raise ValueError("PII keys must be 32 bytes each (AES-256)")
        if len(hash_key) < 32:
            raise ValueError("the hash key must be at least 32 bytes")
        ids = [self._key_id(k) for k in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("the same PII key is configured twice")
        self._keys = list(keys)
        self._hash_key = hash_key
        self._retired_hash_keys = list(retired_hash_keys or [])
        self._by_id = dict(zip(ids, self._keys, strict=True))
        self._current_id = ids[0]

    def __repr__(self) -> str:  # never the keys themselves
        return f"PiiKeys(keys={len(self._keys)})"

    @staticmethod
    def _key_id(key: bytes) -> bytes:
        return hashlib.sha256(b"wxbot-pii-key-id" + key).digest()[:_KEY_ID_LEN]

    def encrypt(self, plaintext: str) -> str:
        header = _VERSION + self._current_id
        nonce = os.urandom(_NONCE_LEN)
        sealed = AESGCM(self._keys[0]).encrypt(nonce, plaintext.encode(), header)
        return base64.urlsafe_b64encode(header + nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        blob = _decode(token)
        key = self._by_id.get(blob[len(_VERSION) : _HEADER_LEN])
        if key is None:
            raise PiiError("ciphertext is under a key that is not configured")
        nonce = blob[_HEADER_LEN : _HEADER_LEN + _NONCE_LEN]
        try:
            plaintext = AESGCM(key).decrypt(nonce, blob[_HEADER_LEN + _NONCE_LEN :], blob[:_HEADER_LEN])
        except InvalidTag as exc:
            raise PiiError("ciphertext failed authentication") from exc
        return plaintext.decode()

    def is_current(self, token: str) -> bool:
        """True when `token` is under the newest key (rotation has nothing to do for it)."""
        return _decode(token)[len(_VERSION) : _HEADER_LEN] == self._current_id

    def reencrypt(self, token: str) -> str | None:
        """The same plaintext under the newest key, or None when it already is."""
        if self.is_current(token):
            return None
        return self.encrypt(self.decrypt(token))

    def lookup_hash(self, value: str, purpose: str = "phone") -> str:
        """Keyed hash for equality lookups; `purpose` separates namespaces (phone, id_number, ...)."""
        return _keyed_hash(self._hash_key, value, purpose)

    def lookup_hashes(self, value: str, purpose: str = "phone") -> list[str]:
        """The hash under the current key and under each retired one: what a stored hash may be while a
        rotation is under way."""
        return [_keyed_hash(key, value, purpose) for key in [self._hash_key, *self._retired_hash_keys]]


def _keyed_hash(key: bytes, value: str, purpose: str) -> str:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _decode(token: str) -> bytes:
    try:
        blob = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, AttributeError) as exc:
        raise PiiError("ciphertext is not valid base64") from exc
    if blob[: len(_VERSION)] != _VERSION:
        raise PiiError("unknown ciphertext version")
    if len(blob) < _HEADER_LEN + _NONCE_LEN + _TAG_LEN:
        raise PiiError("ciphertext is truncated")
    return blob


_NON_DIGITS = re.compile(r"\D")

# Resident ID numbers: 18 characters (region, birth date YYYYMMDD, sequence, check digit or X) or the old
# 15 digits (YYMMDD); the birth-date shape keeps message ids and timestamps from looking like one.
_DATE8 = r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_DATE6 = r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
ID_NUMBER_PATTERN = re.compile(
    rf"(?<![0-9A-Za-z])(?:[1-9]\d{{5}}{_DATE8}\d{{3}}[\dXx]|[1-9]\d{{5}}{_DATE6}\d{{3}})(?![0-9A-Za-z])"
)
# Mainland mobile numbers, with or without +86, written together or as 3-4-4 groups, not inside a longer
# run of digits.
PHONE_PATTERN = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")


def mask_numbers(text: str) -> str:
    """Free text with the phone and ID numbers in it masked (what people type into messages)."""
    text = ID_NUMBER_PATTERN.sub(lambda m: mask_id_number(m.group(0)), text)
    return PHONE_PATTERN.sub(lambda m: mask_phone(m.group(1) + m.group(2) + m.group(3)), text)


def normalise_phone(raw: str) -> str:
    """+86 138-0013-8000 -> 13800138000; raises ValueError for anything that is not a mainland mobile."""
    digits = _NON_DIGITS.sub("", raw or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not re.fullmatch(r"1[3-9]\d{9}", digits):
        raise ValueError("not a mainland mobile number")
    return digits


def mask_phone(phone: str | None) -> str:
    """13812345678 -> 138****5678; anything too short to keep a prefix and suffix is starred out."""
    if not phone:
        return ""
    if len(phone) < 8:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def mask_id_number(value: str | None) -> str:
    """110101199003071234 -> 110***********1234: region prefix and last four, never the birth date."""
    if not value:
        return ""
    if len(value) < 8:
        return "*" * len(value)
    return f"{value[:3]}{'*' * (len(value) - 7)}{value[-4:]}"


def mask_identifier(value: str | None) -> str:
    """An openid or unionid: the first five characters, enough to tell two apart in a log, never the id."""
    if not value:
        return ""
    return f"{value[:5]}***" if len(value) > 8 else "***"
